import { Router } from 'express';
import type { CountableQueue, Metrics } from '../../metrics.js';

/**
 * `GET /metrics` in the Prometheus text format, with the depths of `queues`. Served like
 * /health, without an API key (Prometheus' convention); keep it off the public network
 * (see the README). Dependencies are read when a scrape comes, not when the app is built.
 */
export function metricsRoutes(metrics: () => Metrics, queues: () => CountableQueue[]): Router {
  const router = Router();
  router.get('/metrics', async (_req, res) => {
    const registry = metrics();
    registry.watchQueues(queues());
    const body = await registry.render();
    res.type(registry.contentType).send(body);
  });
  return router;
}
