import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../src/log.js';
import type { ScheduleTickStore } from '../src/stores/redis/schedule-tick-store.js';
import { jobIdForTick } from '../jobs/job-id.js';
import type { AnyJobDefinition } from '../jobs/job-definition.js';
import type { ScheduleEntry } from '../jobs/job-schedules.js';
import type { Producer } from '../queues/producer.js';
import { missedTicks } from '../queues/schedule-clock.js';

export type { ScheduleEntry };

/**
 * Enqueues maintenance on cron. Each tick's job id derives from the job name and the tick
 * time, so any number of replicas ticking at once produce one job per tick. With a tick
 * store, each enqueued tick is recorded, and a start runs the ticks missed while no
 * scheduler ran: the newest `catchUpMax` of them per entry (older ones are skipped), oldest
 * first, each under its own tick's id, so replicas starting together still make one job each.
 */
export class Scheduler {
  private readonly tasks: ScheduledTask[] = [];

  constructor(
    private readonly options: {
      entries: ScheduleEntry[];
      producer: Producer<readonly AnyJobDefinition[]>;
      log: Logger;
      /** Where enqueued ticks are recorded; without it there is no catch-up. */
      ticks?: ScheduleTickStore | undefined;
      /** Missed ticks run per entry at a start (SCHEDULER_CATCHUP_MAX); 0: none. */
      catchUpMax?: number | undefined;
    },
  ) {}

  /** Starts every entry's timer. */
  start(): void {
    for (const entry of this.options.entries) {
      const task = cron.schedule(entry.cron, (ctx) => this.tick(entry, ctx.date), {
        timezone: 'UTC',
        name: entry.jobName,
      });
      this.tasks.push(task);
      this.options.log.info(
        { job: entry.jobName, cron: entry.cron, next: task.getNextRun()?.toISOString() },
        'scheduled',
      );
    }
  }

  /**
   * Enqueues the ticks each entry missed since its last recorded tick (or since a scheduler
   * first ran it), bounded per entry; an entry never run before gets none. Returns the job
   * ids enqueued. Run at a start, before or after start().
   */
  async catchUp(now = new Date()): Promise<string[]> {
    const { ticks, log } = this.options;
    const max = this.options.catchUpMax ?? 0;
    if (!ticks) return [];
    const names = this.options.entries.map((e) => e.jobName);
    let recorded;
    try {
      recorded = await ticks.read(names);
    } catch (err) {
      log.error({ err }, 'schedule records unreadable: no catch-up this start');
      return [];
    }
    const ids: string[] = [];
    for (const entry of this.options.entries) {
      const record = recorded.get(entry.jobName);
      const from = record?.last ?? record?.since;
      if (from === undefined) {
        // A first start: nothing was missed, and from now on nothing will be.
        await ticks.watchSince(entry.jobName, now).catch((err: unknown) => {
          log.warn({ err, job: entry.jobName }, 'schedule start not recorded');
        });
        continue;
      }
      const missed = max > 0 ? missedTicks(entry.cron, from, now, max).reverse() : [];
      if (missed.length > 0) {
        log.info(
          {
            job: entry.jobName,
            since: from.toISOString(),
            ticks: missed.map((t) => t.toISOString()),
          },
          'running missed ticks',
        );
      }
      for (const at of missed) {
        const id = await this.tick(entry, at);
        if (id !== undefined) ids.push(id);
      }
    }
    return ids;
  }

  /** Enqueues an entry's job for one tick; a tick another replica already enqueued is a no-op. */
  async tick(entry: ScheduleEntry, at: Date): Promise<string | undefined> {
    const jobId = jobIdForTick(entry.jobName, at);
    try {
      const job = await this.options.producer.enqueueByName(entry.jobName, entry.payload, {
        jobId,
      });
      this.options.log.info({ job: entry.jobName, jobId: job.id }, 'tick enqueued');
      await this.options.ticks?.advance(entry.jobName, at);
      return job.id;
    } catch (err) {
      // The next tick tries again; a missed maintenance run is logged, not fatal.
      this.options.log.error({ err, job: entry.jobName, jobId }, 'tick could not be enqueued');
      return undefined;
    }
  }

  /** Stops every timer. */
  async stop(): Promise<void> {
    for (const task of this.tasks) await task.destroy();
    this.tasks.length = 0;
  }
}
