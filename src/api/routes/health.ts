import { healthSchema, readinessSchema } from '../../domain/api/health.js';
import { problemSchema } from '../../domain/api/problem.js';
import { checkReadiness } from '../../../queues/use-cases/check-readiness.js';
import { problemDocument } from '../../http/problem.js';
import { defineRoute, ok } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';

type HealthDeps = { stores: Pick<ApiRouteDeps['stores'], 'checkBackends'> };
const route = defineRoute<HealthDeps>();

/** `GET /health` (liveness, seed 001's contract) and `GET /ready` (every backend answers). */
export const healthRouteTable = [
  route({
    operationId: 'health',
    method: 'get',
    path: '/health',
    summary: 'Liveness: answers while the process runs',
    access: 'public',
    responses: { 200: ok(healthSchema, '{"status":"healthy"}') },
    handler: () => ({ status: 200, body: { status: 'healthy' as const } }),
  }),
  route({
    operationId: 'ready',
    method: 'get',
    path: '/ready',
    summary: 'Readiness: every backend answers',
    access: 'public',
    responses: {
      200: ok(readinessSchema, 'Ready, with each backend up'),
      // Answered as is, without the Retry-After the error middleware adds to a 503.
      503: ok(problemSchema, 'A backend is down; `errors` names it', 'application/problem+json'),
    },
    handler: async (_input, { deps }) => {
      const readiness = await checkReadiness(deps.stores);
      if (readiness.ready) {
        return { status: 200, body: { status: 'ready' as const, backends: readiness.backends } };
      }
      const { down } = readiness;
      return {
        status: 503,
        type: 'application/problem+json',
        body: problemDocument({
          status: 503,
          code: 'backend_unavailable',
          detail: `not ready: ${down.map((d) => `${d.name} is down (${d.error})`).join('; ')}`,
          errors: down.map((d) => ({ path: d.name, message: d.error })),
        }),
      };
    },
  }),
];
