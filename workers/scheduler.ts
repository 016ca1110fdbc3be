import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../src/log.js';
import { jobIdForTick } from '../jobs/job-id.js';
import type { AnyJobDefinition } from '../jobs/job-definition.js';
import type { ScheduleEntry } from '../jobs/job-schedules.js';
import type { Producer } from '../queues/producer.js';

export type { ScheduleEntry };

/**
 * Enqueues maintenance on cron. Each tick's job id derives from the job name and the tick
 * time, so any number of replicas ticking at once produce one job per tick.
 */
export class Scheduler {
  private readonly tasks: ScheduledTask[] = [];

  constructor(
    private readonly options: {
      entries: ScheduleEntry[];
      producer: Producer<readonly AnyJobDefinition[]>;
      log: Logger;
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

  /** Enqueues an entry's job for one tick; a tick another replica already enqueued is a no-op. */
  async tick(entry: ScheduleEntry, at: Date): Promise<string | undefined> {
    const jobId = jobIdForTick(entry.jobName, at);
    try {
      const job = await this.options.producer.enqueueByName(entry.jobName, entry.payload, {
        jobId,
      });
      this.options.log.info({ job: entry.jobName, jobId: job.id }, 'tick enqueued');
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
