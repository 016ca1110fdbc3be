import { Worker, type Job } from 'bullmq';
import type { QueueName } from '../src/config.js';
import { isSaturation } from '../src/errors/index.js';
import type { Logger } from '../src/log.js';
import type { Metrics } from '../src/metrics.js';

/**
 * The limiter a throttling worker runs with. BullMQ honours a manual rate limit (the queue's
 * limiter key) only in workers that have a limiter: this one is never reached by itself
 * (a billion jobs a second), so it costs one INCR per job and changes nothing until a sink
 * saturates; then every worker of the queue, in every process, holds off.
 */
export const SINK_THROTTLE_LIMITER = { max: 1_000_000_000, duration: 1_000 } as const;

/** Throttles of one job before its next saturation counts as an attempt after all. */
export const MAX_THROTTLES_PER_JOB = 20;

/** The longest one throttle holds a queue. */
const MAX_DELAY_MS = 30_000;

/**
 * Backpressure from the sinks: when a job fails because its sink says it is saturated (a
 * SaturationError: S3 SlowDown, ClickHouse too many parts, PostgreSQL out of connections or
 * locks, Redis OOM), the job's queue is rate-limited for the suggested delay (doubling with
 * each throttle of the same job, up to 30 s) and the job goes back to wait without using an
 * attempt (BullMQ's RateLimitError), instead of burning its retries on a sink that needs less
 * traffic. A job throttled MAX_THROTTLES_PER_JOB times is retried as any transient failure, so
 * a sink that never recovers still ends in failed jobs rather than an endless loop.
 */
export class SinkThrottle {
  constructor(
    private readonly options: {
      /** Rate-limits the queue for every worker of it (BullMQ's Queue.rateLimit). */
      limit: (queue: QueueName, ms: number) => Promise<void>;
      metrics: Metrics;
      maxPerJob?: number;
    },
  ) {}

  /**
   * The error the processor throws instead of `err`: BullMQ's RateLimitError once the queue
   * is limited; undefined when `err` is no saturation, the job was throttled too often, or
   * the limit could not be set (the failure then takes its usual course).
   */
  async slowDown(
    err: unknown,
    job: Job,
    queue: QueueName,
    log: Logger,
  ): Promise<Error | undefined> {
    if (!isSaturation(err)) return undefined;
    // Starts that used no attempt: the throttles so far (and stalls, which are rare).
    const throttles = Math.max(0, job.attemptsStarted - job.attemptsMade - 1);
    if (throttles >= (this.options.maxPerJob ?? MAX_THROTTLES_PER_JOB)) {
      log.warn(
        { code: err.code, throttles },
        'sink still saturated after the most throttles a job gets; this failure uses an attempt',
      );
      return undefined;
    }
    const delayMs = Math.min(MAX_DELAY_MS, err.retryAfterMs * 2 ** Math.min(throttles, 5));
    try {
      await this.options.limit(queue, delayMs);
    } catch (limitErr) {
      log.warn({ err: limitErr }, 'could not rate-limit the queue; the failure uses an attempt');
      return undefined;
    }
    this.options.metrics.sinkThrottled(queue, job.name, err.code, delayMs);
    log.warn(
      { code: err.code, delayMs, throttles: throttles + 1, context: err.context },
      `sink saturated, queue ${queue} slowed for ${delayMs} ms; the job waits without using an attempt: ${err.message}`,
    );
    return Worker.RateLimitError();
  }
}
