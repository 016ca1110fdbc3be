import type { CountableQueue, Metrics } from '../../src/metrics.js';

/** The process's metrics in the Prometheus text format, with the depths of `queues`. */
export async function renderMetrics(deps: {
  metrics: Pick<Metrics, 'watchQueues' | 'render' | 'contentType'>;
  queues: readonly CountableQueue[];
}): Promise<{ text: string; contentType: string }> {
  deps.metrics.watchQueues(deps.queues);
  return { text: await deps.metrics.render(), contentType: deps.metrics.contentType };
}
