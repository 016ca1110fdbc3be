import { usageQuerySchema, usageReportSchema } from '../../domain/api/usage.js';
import { readUsage } from '../../../queues/use-cases/usage.js';
import { hasScope } from '../../http/auth.js';
import { defineRoute, ok, problem } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';

type UsageDeps = { stores: Pick<ApiRouteDeps['stores'], 'usage'> };
const route = defineRoute<UsageDeps>();

/** `GET /v1/usage`: bytes, rows and jobs per tenant and UTC day. */
export const usageRouteTable = [
  route({
    operationId: 'usage',
    method: 'get',
    path: '/v1/usage',
    summary:
      "Usage per UTC day (bytes, rows, jobs enqueued, completed, failed): the key's own tenant; an admin key every tenant",
    access: 'read',
    query: usageQuerySchema,
    responses: {
      200: ok(usageReportSchema, 'Usage, newest day first'),
      400: problem('Bad query; `errors` names each failing field'),
      403: problem("Another tenant's usage without the admin scope"),
    },
    handler: async ({ query }, { caller, deps }) => ({
      status: 200,
      body: await readUsage(
        deps.stores.usage,
        { tenant: caller?.tenant ?? '', admin: hasScope(caller, 'admin') },
        query,
      ),
    }),
  }),
];
