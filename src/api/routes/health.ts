import { Router } from 'express';
import type { Deps } from '../../deps.js';
import { sendProblem } from '../problem.js';

/** `GET /health` (liveness, seed 001's contract) and `GET /ready` (every backend answers). */
export function healthRoutes(deps: Pick<Deps, 'checkBackends'>): Router {
  const router = Router();

  router.get('/health', (_req, res) => {
    res.json({ status: 'healthy' });
  });

  router.get('/ready', async (_req, res) => {
    const results = await deps.checkBackends();
    const down = results.filter((r) => !r.ok);
    const backends = Object.fromEntries(results.map((r) => [r.name, r.ok ? 'up' : 'down']));
    if (down.length === 0) {
      res.json({ status: 'ready', backends });
      return;
    }
    sendProblem(res, {
      status: 503,
      code: 'backend_unavailable',
      detail: `not ready: ${down.map((d) => `${d.name} is down (${d.error ?? 'no answer'})`).join('; ')}`,
      errors: down.map((d) => ({ path: d.name, message: d.error ?? 'no answer' })),
    });
  });

  return router;
}
