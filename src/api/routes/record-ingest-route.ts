import type { z } from 'zod';
import type { Config } from '../../config.js';
import {
  enqueueRecordIngest,
  parseRecordIngest,
  recordIngestBodySchema,
  type RecordKind,
} from '../../../queues/use-cases/ingest-records.js';
import { badInput, json, keyConflict, ref } from '../contract/openapi-fragments.js';
import { answerIdempotently, idempotentAnswer } from '../idempotent-request.js';
import { defineRoute, ok, problem } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';
import { idempotencyHeaders } from './jobs.js';

type RecordIngestDeps = Pick<ApiRouteDeps, 'producer' | 'ingest'> & {
  stores: Pick<ApiRouteDeps['stores'], 'idempotency'>;
};
const route = defineRoute<RecordIngestDeps>();

/** How a record kind's ingest route is named and documented. */
export interface RecordIngestRouteSpec {
  operationId: string;
  summary: string;
  /** The 202 answer (jobs, or a watermark.commit flow). */
  accepted: z.ZodType;
  /** OpenAPI component names of one record and of the body. */
  components: { record: string; body: string };
  /** The route's path; `/v1/ingest/{field}` by default. */
  path?: string;
}

/**
 * `POST /v1/ingest/{field}` for a record kind (activities, detections): the use case checks
 * the body and every record (`body` is left raw here), and the batch is answered at most once
 * per Idempotency-Key — the batch's own digest when none is given — as IOC ingest is.
 */
export function recordIngestRoute<F extends string, R>(
  kind: RecordKind<F, R>,
  config: Config,
  spec: RecordIngestRouteSpec,
) {
  const body = recordIngestBodySchema(kind, {
    maxIocs: config.INGEST_MAX_IOCS,
    chunkSize: config.INGEST_CHUNK_SIZE,
  });
  const path = spec.path ?? `/v1/ingest/${kind.field}`;
  return route({
    operationId: spec.operationId,
    method: 'post',
    path,
    summary: spec.summary,
    access: 'ingest',
    headers: idempotencyHeaders,
    responses: {
      202: ok(spec.accepted, 'Enqueued'),
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
              ref(spec.components.body),
              { properties: { [kind.field]: { items: ref(spec.components.record) } } },
            ],
          },
          'The batch',
        ),
      },
      components: { [spec.components.record]: kind.schema, [spec.components.body]: body },
    },
    handler: async ({ headers, body }, { caller, deps }) => {
      const batch = parseRecordIngest(kind, body, deps.ingest);
      const result = await answerIdempotently(
        deps.stores.idempotency,
        {
          caller: caller?.name ?? '',
          key: headers['Idempotency-Key'] ?? batch.digest,
          route: `POST ${path}`,
          request: batch.request,
          digest: batch.digest,
        },
        async (scoped) => {
          if (scoped === undefined) throw new Error('ingest: an idempotency key is always set');
          const answer = await enqueueRecordIngest(deps.producer, kind, batch, {
            key: scoped.key,
            keyScope: scoped.scope,
            requestKey: headers['Idempotency-Key'],
          });
          return 'status_url' in answer
            ? { status: 202, location: answer.status_url, body: answer }
            : { status: 202, body: answer };
        },
      );
      return idempotentAnswer(result);
    },
  });
}
