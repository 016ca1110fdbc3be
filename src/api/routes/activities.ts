import type { Config } from '../../config.js';
import {
  activityIngestAcceptedSchema,
  activityPageSchema,
  activityStatsSchema,
} from '../../domain/api/activities.js';
import { activitySchema } from '../../domain/activity.js';
import {
  activityIngestBodySchema,
  enqueueActivityIngest,
  parseActivityIngest,
} from '../../../queues/use-cases/ingest-activities.js';
import {
  activityStats,
  activityStatsQuerySchema,
  activitySearchQuerySchema,
  searchActivities,
} from '../../../queues/use-cases/search-activities.js';
import { badInput, json, keyConflict, ref } from '../contract/openapi-fragments.js';
import { answerIdempotently, idempotentAnswer } from '../idempotent-request.js';
import { defineRoute, ok, problem } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';
import { idempotencyHeaders } from './jobs.js';

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
  // An activity batch has the bounds of an IOC batch (INGEST_MAX_IOCS, INGEST_CHUNK_SIZE).
  const limits = { maxActivities: config.INGEST_MAX_IOCS, chunkSize: config.INGEST_CHUNK_SIZE };
  const body = activityIngestBodySchema(limits);
  return [
    route({
      operationId: 'ingestActivities',
      method: 'post',
      path: '/v1/ingest/activities',
      summary:
        'A batch of activity events, split into activities.insert jobs; with a watermark, the children of one watermark.commit flow',
      access: 'ingest',
      headers: idempotencyHeaders,
      responses: {
        202: ok(activityIngestAcceptedSchema, 'Enqueued'),
        400: badInput,
        409: keyConflict,
        413: problem(`Body over API_BODY_LIMIT (${config.API_BODY_LIMIT})`),
        415: problem('Not JSON'),
      },
      openapi: {
        requestBody: {
          required: true,
          ...json(
            {
              allOf: [
                ref('ActivityIngestBody'),
                { properties: { activities: { items: ref('Activity') } } },
              ],
            },
            'The batch',
          ),
        },
        components: { Activity: activitySchema, ActivityIngestBody: body },
      },
      // The use case validates the body (its schema, then each record): `body` is left raw.
      handler: async ({ headers, body }, { caller, deps }) => {
        const batch = parseActivityIngest(body, limits);
        const key = headers['Idempotency-Key'] ?? batch.digest;
        const result = await answerIdempotently(
          deps.stores.idempotency,
          {
            caller: caller?.name ?? '',
            key,
            route: 'POST /v1/ingest/activities',
            request: batch.request,
            digest: batch.digest,
          },
          async (scoped) => {
            if (scoped === undefined) throw new Error('ingest: an idempotency key is always set');
            const answer = await enqueueActivityIngest(deps.producer, batch, {
              key: scoped.key,
              keyScope: scoped.scope,
            });
            return 'status_url' in answer
              ? { status: 202, location: answer.status_url, body: answer }
              : { status: 202, body: answer };
          },
        );
        return idempotentAnswer(result);
      },
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
