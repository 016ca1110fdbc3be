import type { Config } from '../../config.js';
import { ingestAcceptedSchema } from '../../domain/api/ingest.js';
import { iocSchema } from '../../domain/ioc.js';
import {
  enqueueIngest,
  ingestBodySchema,
  ingestKey,
  parseIngest,
} from '../../../queues/use-cases/ingest-iocs.js';
import { badInput, json, keyConflict, ref } from '../contract/openapi-fragments.js';
import { answerIdempotently, idempotentAnswer } from '../idempotent-request.js';
import { defineRoute, ok, problem } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';
import { idempotencyHeaders } from './jobs.js';

type IngestDeps = Pick<ApiRouteDeps, 'producer' | 'ingest'> & {
  stores: Pick<ApiRouteDeps['stores'], 'idempotency'>;
};
const route = defineRoute<IngestDeps>();

/**
 * `POST /v1/ingest/iocs`: a collector's batch (queues/use-cases/ingest-iocs.ts), answered at
 * most once per Idempotency-Key; without a header the batch's own digest is its key.
 */
export function ingestRouteTable(config: Config) {
  const body = ingestBodySchema({
    maxIocs: config.INGEST_MAX_IOCS,
    chunkSize: config.INGEST_CHUNK_SIZE,
  });
  return [
    route({
      operationId: 'ingestIocs',
      method: 'post',
      path: '/v1/ingest/iocs',
      summary:
        "A collector's batch, split into iocs.insert jobs; with a watermark, the children of one watermark.commit flow",
      access: 'ingest',
      headers: idempotencyHeaders,
      responses: {
        202: ok(ingestAcceptedSchema, 'Enqueued'),
        400: badInput,
        409: keyConflict,
        413: problem(`Body over API_BODY_LIMIT (${config.API_BODY_LIMIT})`),
        415: problem('Not JSON'),
      },
      openapi: {
        requestBody: {
          required: true,
          ...json(
            { allOf: [ref('IngestBody'), { properties: { iocs: { items: ref('IngestIoc') } } }] },
            'The batch',
          ),
        },
        components: { Ioc: iocSchema, IngestBody: body },
      },
      // The use case validates the body (its schema, then each record): `body` is left raw.
      handler: async ({ headers, body }, { caller, deps }) => {
        const batch = parseIngest(body, deps.ingest);
        const key = ingestKey(batch, headers['Idempotency-Key']);
        const route = 'POST /v1/ingest/iocs';
        const result = await answerIdempotently(
          deps.stores.idempotency,
          { caller: caller?.name ?? '', key, route, request: batch.request, digest: batch.digest },
          async (scoped) => {
            // A key is always given here (the header's or the batch digest), so scoped is too.
            if (scoped === undefined) throw new Error('ingest: an idempotency key is always set');
            const answer = await enqueueIngest(deps.producer, batch, {
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
    }),
  ];
}
