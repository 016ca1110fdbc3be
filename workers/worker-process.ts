import type { Config, QueueName } from '../src/config.js';
import { createDeps } from '../src/deps.js';
import type { Logger } from '../src/log.js';
import type { RunningProcess } from '../src/running-process.js';
import { createHandlers } from '../jobs/handlers.js';
import { createJobRegistry } from '../jobs/registry.js';
import { WorkerHost } from './worker-host.js';

/** Starts a worker serving the configured queues (or those given). */
export async function startWorker(
  config: Config,
  log: Logger,
  queues: readonly QueueName[] = config.workerQueues,
): Promise<RunningProcess> {
  const deps = createDeps(config, 'worker', log);
  await deps.initStores();
  const host = new WorkerHost({
    connect: (name) => deps.connectRedis(name),
    prefix: config.QUEUE_PREFIX,
    queues,
    concurrency: config.WORKER_CONCURRENCY,
    lockDuration: config.WORKER_LOCK_MS,
    registry: createJobRegistry(),
    handlers: createHandlers(deps),
    log,
  });
  host.start();
  await host.ready();
  return {
    name: 'worker',
    async stop() {
      await host.stop(config.SHUTDOWN_GRACE_MS);
      await deps.close();
    },
  };
}
