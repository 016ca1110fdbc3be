import type { Config } from '../src/config.js';
import { startRoot } from '../src/composition/root.js';
import type { Logger } from '../src/log.js';
import type { RunningProcess } from '../src/running-process.js';
import { Scheduler } from './scheduler.js';
import { scheduleFromConfig } from './schedules.js';

/** Starts the scheduler with the maintenance schedule from configuration. */
export async function startScheduler(config: Config, log: Logger): Promise<RunningProcess> {
  // The scheduler enqueues: a queue Redis that may evict loses what it enqueues (checked
  // before any queue opens).
  const root = await startRoot(config, log, { role: 'scheduler' });
  const { registry, producer } = root;
  const { entries, skipped } = scheduleFromConfig(config, registry);
  for (const s of skipped) log.info(s, 'schedule entry not active');
  const scheduler = new Scheduler({ entries, producer, log });
  scheduler.start();
  return {
    name: 'scheduler',
    async stop() {
      await scheduler.stop();
      await root.close();
      log.info('scheduler stopped');
    },
  };
}
