import type { Config } from '../../config.js';
import { ingestAcceptedSchema } from '../../domain/api/ingest.js';
import { iocSchema } from '../../domain/ioc.js';
import { problem, ok, type ContractOnlyRoute } from '../route.js';
import { ingestBodySchema } from '../routes/ingest.js';
import { badInput, idempotencyKeyHeader, keyConflict } from './jobs.js';
import { json, ref } from './openapi-fragments.js';

/** The contract of src/api/routes/ingest.ts (served by its express router): a collector's batch. */
export function ingestContract(config: Config): ContractOnlyRoute[] {
  const body = ingestBodySchema({
    maxIocs: config.INGEST_MAX_IOCS,
    chunkSize: config.INGEST_CHUNK_SIZE,
  });
  return [
    {
      servedBy: 'express-router',
      operationId: 'ingestIocs',
      method: 'post',
      path: '/v1/ingest/iocs',
      summary:
        "A collector's batch, split into iocs.insert jobs; with a watermark, the children of one watermark.commit flow",
      access: 'ingest',
      body,
      responses: {
        202: ok(ingestAcceptedSchema, 'Enqueued'),
        400: badInput,
        409: keyConflict,
        413: problem(`Body over API_BODY_LIMIT (${config.API_BODY_LIMIT})`),
        415: problem('Not JSON'),
      },
      openapi: {
        parameters: [idempotencyKeyHeader()],
        requestBody: {
          required: true,
          ...json(
            { allOf: [ref('IngestBody'), { properties: { iocs: { items: ref('IngestIoc') } } }] },
            'The batch',
          ),
        },
        components: { Ioc: iocSchema, IngestBody: body },
      },
    },
  ];
}
