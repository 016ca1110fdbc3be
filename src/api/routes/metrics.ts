import type { Router } from 'express';
import { metricsTextSchema } from '../../domain/api/health.js';
import type { CountableQueue, Metrics } from '../../metrics.js';
import { renderMetrics } from '../../../queues/use-cases/render-metrics.js';
import { routerFor } from '../express-adapter.js';
import { defineRoute, ok } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';

type MetricsDeps = { stores: Pick<ApiRouteDeps['stores'], 'metrics'> } & Pick<
  ApiRouteDeps,
  'queues'
>;
const route = defineRoute<MetricsDeps>();

/**
 * `GET /metrics` in the Prometheus text format, with the depths of the api's queues. Served
 * like /health, without an API key (Prometheus' convention); keep it off the public network
 * (see the README). Dependencies are read when a scrape comes, not when the app is built.
 */
export const metricsRouteTable = [
  route({
    operationId: 'metrics',
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics of this process (text exposition format)',
    access: 'public',
    responses: { 200: ok(metricsTextSchema, 'Prometheus text format 0.0.4', 'text/plain') },
    handler: async (_input, { deps }) => {
      const { text, contentType } = await renderMetrics({
        metrics: deps.stores.metrics,
        queues: deps.queues(),
      });
      return { status: 200, type: contentType, body: text };
    },
  }),
];

/** `GET /metrics` alone, as a router (the standalone dashboard serves it too). */
export function metricsRoutes(metrics: () => Metrics, queues: () => CountableQueue[]): Router {
  return routerFor(metricsRouteTable, {
    // Read when a scrape comes, not when the app is built.
    stores: {
      get metrics() {
        return metrics();
      },
    },
    queues,
  });
}
