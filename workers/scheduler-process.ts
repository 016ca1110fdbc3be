import type { Config } from '../src/config.js';
import { startRoot } from '../src/composition/root.js';
import type { Logger } from '../src/log.js';
import type { RunningProcess } from '../src/running-process.js';
import { scheduleFromConfig } from '../jobs/job-schedules.js';
import { createJobRegistry } from '../jobs/registry.js';
import { ScheduleTickStore } from '../src/stores/redis/schedule-tick-store.js';
import { Scheduler } from './scheduler.js';

/**
 * Starts the scheduler with the schedules the job definitions declare, as configured. A
 * `SCHEDULE_<KEY>` no definition declares refuses the start before any connection opens.
 */
export async function startScheduler(config: Config, log: Logger): Promise<RunningProcess> {
  const registry = createJobRegistry();
  const { entries, skipped } = scheduleFromConfig(config, registry);
  // The scheduler enqueues: a queue Redis that may evict loses what it enqueues (checked
  // before any queue opens).
  const root = await startRoot(config, log, { role: 'scheduler', registry });
  for (const s of skipped) log.info(s, 'schedule entry not active');
  const scheduler = new Scheduler({
    entries,
    producer: root.producer.onBehalfOf({ enqueuedBy: 'scheduler' }),
    log,
    ticks: new ScheduleTickStore(root.redis, config.QUEUE_PREFIX),
    catchUpMax: config.SCHEDULER_CATCHUP_MAX,
  });
  // Timers first: a tick falling due during the catch-up is enqueued once either way (its id).
  scheduler.start();
  await scheduler.catchUp();
  return {
    name: 'scheduler',
    async stop() {
      await scheduler.stop();
      await root.close();
      log.info('scheduler stopped');
    },
  };
}
