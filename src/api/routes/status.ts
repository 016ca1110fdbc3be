import { serviceStatusSchema } from '../../domain/api/status.js';
import { serviceStatus } from '../../../queues/use-cases/service-status.js';
import { defineRoute, ok } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';

type StatusDeps = Pick<ApiRouteDeps, 'queues'> & {
  stores: Pick<ApiRouteDeps['stores'], 'checkBackends'>;
};
const route = defineRoute<StatusDeps>();

/**
 * `GET /status` (seed 001's troubleshooting call): read scope, or no key from a network
 * listed in WATERMARK_OPEN_CIDRS, as the seed's client sends none.
 */
export const statusRouteTable = [
  route({
    operationId: 'serviceStatus',
    method: 'get',
    path: '/status',
    summary: 'Service status: healthy or degraded, each backend, each queue',
    access: 'read',
    responses: { 200: ok(serviceStatusSchema, 'The status (200 even when degraded)') },
    handler: async (_input, { deps }) => ({
      status: 200,
      body: await serviceStatus({
        checkBackends: () => deps.stores.checkBackends(),
        queues: deps.queues,
        uptimeSeconds: process.uptime(),
      }),
    }),
  }),
];
