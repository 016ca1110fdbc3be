import type { Config, QueueName } from '../src/config.js';
import { createDeps } from '../src/deps.js';
import type { Logger } from '../src/log.js';
import { startMetricsServer } from '../src/metrics-server.js';
import type { RunningProcess } from '../src/running-process.js';
import { createHandlers } from '../jobs/handlers.js';
import { createJobRegistry } from '../jobs/registry.js';
import { QueueSet } from '../queues/queue-set.js';
import { WorkerHost } from './worker-host.js';

/**
 * Starts a worker serving the configured queues (or those given), with its /metrics and
 * /health listener on WORKER_METRICS_PORT.
 */
export async function startWorker(
  config: Config,
  log: Logger,
  queues: readonly QueueName[] = config.workerQueues,
): Promise<RunningProcess & { metricsUrl: string }> {
  const deps = createDeps(config, 'worker', log);
  // No DDL here: DDL waits for every open transaction on its table, and every running
  // worker's INSERT would queue behind it. `stowage init` creates the schema.
  try {
    await deps.preflight();
  } catch (err) {
    await deps.close();
    throw err;
  }
  // Depths of the queues this worker serves, read on each scrape (no Worker can count).
  const counted = new QueueSet(deps.redis, config.QUEUE_PREFIX, queues);
  deps.metrics.watchQueues(counted.all());
  const host = new WorkerHost({
    connect: (name) => deps.connectRedis(name),
    prefix: config.QUEUE_PREFIX,
    queues,
    concurrency: config.WORKER_CONCURRENCY,
    lockDuration: config.WORKER_LOCK_MS,
    registry: createJobRegistry(),
    handlers: createHandlers(deps),
    log,
    metrics: deps.metrics,
  });
  const metricsServer = await startMetricsServer({
    metrics: deps.metrics,
    port: config.WORKER_METRICS_PORT,
    host: config.API_HOST,
    log,
  });
  host.start();
  await host.ready();
  return {
    name: 'worker',
    metricsUrl: metricsServer.url,
    async stop() {
      await host.stop(config.SHUTDOWN_GRACE_MS);
      await metricsServer.close();
      await counted.close();
      await deps.close();
    },
  };
}
