import type { Config, QueueName } from '../src/config.js';
import { startRoot } from '../src/composition/root.js';
import type { Logger } from '../src/log.js';
import { startMetricsServer } from '../src/metrics-server.js';
import type { RunningProcess } from '../src/running-process.js';
import { createHandlers } from '../jobs/job-type.js';
import { JOB_TYPES } from '../jobs/registry.js';
import { WorkerHost } from './worker-host.js';
import { SinkThrottle } from './sink-throttle.js';
import { accountTenantUsage } from './tenant-usage.js';
import { tenantLabeller } from '../src/domain/tenant-quota.js';
import { RedisUsageStore } from '../src/stores/redis/usage-store.js';

/**
 * Starts a worker serving the configured queues (or those given), with its /metrics and
 * /health listener on WORKER_METRICS_PORT.
 */
export async function startWorker(
  config: Config,
  log: Logger,
  queues: readonly QueueName[] = config.workerQueues,
): Promise<RunningProcess & { metricsUrl: string }> {
  // No DDL here: DDL waits for every open transaction on its table, and every running
  // worker's INSERT would queue behind it. `stowage init` creates the schema.
  const root = await startRoot(config, log, { role: 'worker', queues });
  let handlers;
  try {
    // Only the handlers of the served queues: their resources are what the root built.
    handlers = await createHandlers(
      JOB_TYPES.filter((t) => queues.includes(t.definition.queue)),
      root.resources,
    );
  } catch (err) {
    await root.close();
    throw err;
  }
  // Depths of the queues this worker serves, read on each scrape (no Worker can count).
  root.metrics.watchQueues(root.queues.all());
  const host = new WorkerHost({
    connect: (name) => root.connectRedis(name),
    prefix: config.QUEUE_PREFIX,
    queues,
    concurrency: config.WORKER_CONCURRENCY,
    lockDuration: config.WORKER_LOCK_MS,
    abortGraceMs: config.JOB_ABORT_GRACE_MS,
    registry: root.registry,
    handlers,
    log,
    metrics: root.metrics,
    deadLetters: root.resources.deadLetters,
    fairQueues: config.fairQueues,
    throttle: new SinkThrottle({
      limit: (queue, ms) => root.queues.get(queue).rateLimit(ms),
      metrics: root.metrics,
    }),
  });
  const usage = new RedisUsageStore(root.redis, { prefix: config.QUEUE_PREFIX });
  const label = tenantLabeller([
    ...config.API_KEYS.map((k) => k.tenant),
    ...Object.keys(config.TENANT_QUOTAS.tenants),
  ]);
  for (const worker of host.workers) {
    accountTenantUsage(worker, { usage, metrics: root.metrics, label, log });
  }
  const metricsServer = await startMetricsServer({
    metrics: root.metrics,
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
      await root.close();
    },
  };
}
