import type { Redis } from 'ioredis';
import { advanceVirtualTime } from '../queues/fair-priority.js';

/** How often a worker reports the largest priority it started (at most one call per period). */
export const FAIR_CLOCK_INTERVAL_MS = 50;

/**
 * A worker's side of fair queuing: moves its queue's virtual time up to the priority of the
 * jobs it starts, so a tenant arriving later starts at the current time. Throttled to one
 * script call per interval whatever the job rate (no-op throughput stays the runtime's,
 * issue 14); a lagging clock only lets a newcomer start a few tags earlier, never later.
 */
export class FairClock {
  /** The largest priority started since the last report (the clock in Redis keeps the max). */
  private pending = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly queue: string,
    private readonly onError: (err: unknown) => void,
    private readonly intervalMs = FAIR_CLOCK_INTERVAL_MS,
  ) {}

  /** A job with this priority started (0 or none: a job outside fair queuing, ignored). */
  observe(priority: number | undefined): void {
    const p = Number(priority);
    if (!(p > this.pending) || this.closed) return;
    this.pending = p;
    if (this.timer === undefined) this.report();
  }

  /** Stops reporting (a pending report is dropped: the next worker's start moves the clock). */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Sends the largest priority seen, then holds further reports for one interval. */
  private report(): void {
    const priority = this.pending;
    this.pending = 0;
    advanceVirtualTime(this.redis, this.prefix, this.queue, priority).catch(this.onError);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.pending > 0 && !this.closed) this.report();
    }, this.intervalMs);
    this.timer.unref();
  }
}
