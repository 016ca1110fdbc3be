import type { Config } from '../../config.js';
import {
  activityIngestAcceptedSchema,
  activityPageSchema,
  activityStatsSchema,
} from '../../domain/api/activities.js';
import { ACTIVITY_KIND } from '../../../queues/use-cases/ingest-activities.js';
import {
  activityStats,
  activityStatsQuerySchema,
  activitySearchQuerySchema,
  searchActivities,
} from '../../../queues/use-cases/search-activities.js';
import { badInput } from '../contract/openapi-fragments.js';
import { defineRoute, ok } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';
import { recordIngestRoute } from './record-ingest-route.js';

type ActivityDeps = Pick<ApiRouteDeps, 'producer'> & {
  stores: Pick<ApiRouteDeps['stores'], 'idempotency' | 'activities'>;
};
const route = defineRoute<ActivityDeps>();

/**
 * Activity events (seed 000's store_activities_batch and search_activities):
 * `POST /v1/ingest/activities` enqueues activities.insert jobs (answered at most once per
 * Idempotency-Key, the batch's digest when none is given); `GET /v1/activities` searches a
 * bounded window a page at a time; `GET /v1/activities/stats` counts a window.
 */
export function activityRouteTable(config: Config) {
  return [
    recordIngestRoute(ACTIVITY_KIND, config, {
      operationId: 'ingestActivities',
      summary:
        'A batch of activity events, split into activities.insert jobs; with a watermark, the children of one watermark.commit flow',
      accepted: activityIngestAcceptedSchema,
      components: { record: 'Activity', body: 'ActivityIngestBody' },
    }),
    route({
      operationId: 'searchActivities',
      method: 'get',
      path: '/v1/activities',
      summary:
        'Activity events of a window (at most 7 days), oldest first, a page at a time (next_cursor)',
      access: 'read',
      query: activitySearchQuerySchema,
      responses: { 200: ok(activityPageSchema, 'A page of events'), 400: badInput },
      handler: async ({ query }, { deps }) => ({
        status: 200,
        body: await searchActivities(query, { activities: deps.stores.activities }),
      }),
    }),
    route({
      operationId: 'activityStats',
      method: 'get',
      path: '/v1/activities/stats',
      summary: 'Activity event counts per source and event type in a window (at most 7 days)',
      access: 'read',
      query: activityStatsQuerySchema,
      responses: { 200: ok(activityStatsSchema, 'Counts'), 400: badInput },
      handler: async ({ query }, { deps }) => ({
        status: 200,
        body: await activityStats(query, { activities: deps.stores.activities }),
      }),
    }),
  ];
}
