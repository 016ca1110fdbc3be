import { QUEUE_NAMES, type Config } from '../src/config.js';
import { createDeps } from '../src/deps.js';
import type { Logger } from '../src/log.js';
import type { RunningProcess } from '../src/running-process.js';
import { scheduleFromConfig } from '../jobs/job-schedules.js';
import { createJobRegistry } from '../jobs/registry.js';
import { Producer } from '../queues/producer.js';
import { QueueSet } from '../queues/queue-set.js';
import { Scheduler } from './scheduler.js';

/**
 * Starts the scheduler with the schedules the job definitions declare, as configured. A
 * `SCHEDULE_<KEY>` no definition declares refuses the start before any connection opens.
 */
export async function startScheduler(config: Config, log: Logger): Promise<RunningProcess> {
  const registry = createJobRegistry();
  const { entries, skipped } = scheduleFromConfig(config, registry);
  const deps = createDeps(config, 'scheduler', log);
  // The scheduler enqueues: a queue Redis that may evict loses what it enqueues.
  try {
    await deps.checkQueueRedis();
  } catch (err) {
    await deps.close();
    throw err;
  }
  const queues = new QueueSet(deps.redis, config.QUEUE_PREFIX, QUEUE_NAMES, {
    keepCompleted: config.JOBS_KEEP_COMPLETED,
  });
  const producer = new Producer(registry, queues, deps.redis);
  for (const s of skipped) log.info(s, 'schedule entry not active');
  const scheduler = new Scheduler({ entries, producer, log });
  scheduler.start();
  return {
    name: 'scheduler',
    async stop() {
      await scheduler.stop();
      await producer.close();
      await queues.close();
      await deps.close();
      log.info('scheduler stopped');
    },
  };
}
