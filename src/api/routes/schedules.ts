import type { Config } from '../../config.js';
import { ScheduleTickStore } from '../../stores/redis/schedule-tick-store.js';
import type { JobRegistry } from '../../../jobs/job-registry.js';
import { schedulesSchema } from '../../domain/api/schedules.js';
import { listSchedules } from '../../../queues/use-cases/list-schedules.js';
import { defineRoute, ok } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';

type ScheduleDeps = { stores: Pick<ApiRouteDeps['stores'], 'redis'> };
const route = defineRoute<ScheduleDeps>();

/** `GET /v1/schedules`: every schedule with its cron, last tick and next tick. */
export function scheduleRouteTable(config: Config, registry: JobRegistry) {
  return [
    route({
      operationId: 'listSchedules',
      method: 'get',
      path: '/v1/schedules',
      summary: 'Every scheduled job type: its cron, the last tick enqueued and the next one',
      access: 'read',
      responses: { 200: ok(schedulesSchema, 'The schedules, in registry order') },
      handler: async (_input, { deps }) => ({
        status: 200,
        body: {
          schedules: await listSchedules(
            { schedules: config.schedules, definitions: registry.definitions },
            { ticks: new ScheduleTickStore(deps.stores.redis, config.QUEUE_PREFIX) },
          ),
        },
      }),
    }),
  ];
}
