import { z } from 'zod';
import type { Config } from '../../config.js';
import { recordIngestAcceptedSchema, recordReadSchema } from '../../domain/api/records.js';
import { storageRecordSchema } from '../../domain/storage-record.js';
import { getStorageRecord } from '../../../queues/use-cases/get-storage-record.js';
import { STORAGE_RECORD_KIND } from '../../../queues/use-cases/ingest-storage-records.js';
import { badInput } from '../contract/openapi-fragments.js';
import { defineRoute, ok, problem } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';
import { recordIngestRoute } from './record-ingest-route.js';

type RecordDeps = Pick<ApiRouteDeps, 'producer' | 'ingest'> & {
  stores: Pick<ApiRouteDeps['stores'], 'idempotency' | 'records' | 'archivedRecords'>;
};
const route = defineRoute<RecordDeps>();

const recordParamsSchema = z.strictObject({
  id: storageRecordSchema.shape.id.describe('The record (`unique-id`).'),
});

/**
 * Seed 002's StorageManager: `POST /v1/records` stores a batch (records.insert jobs: archived
 * under Object Lock, indexed, then hot), `GET /v1/records/{id}` reads hot first, then the
 * archive.
 */
export function recordRouteTable(config: Config) {
  return [
    recordIngestRoute(STORAGE_RECORD_KIND, config, {
      operationId: 'storeRecords',
      path: '/v1/records',
      summary:
        "A batch of records (seed 002's store_record), split into records.insert jobs: each archived under Object Lock, indexed, then written hot",
      accepted: recordIngestAcceptedSchema,
      components: { record: 'StorageRecord', body: 'RecordIngestBody' },
    }),
    route({
      operationId: 'getRecord',
      method: 'get',
      path: '/v1/records/{id}',
      summary:
        "A record (seed 002's retrieve_record): from the hot store, or past hot retention from the WORM archive",
      access: 'read',
      params: recordParamsSchema,
      responses: {
        200: ok(recordReadSchema, 'The record and its tier'),
        400: badInput,
        404: problem('Neither the hot store nor the archive holds it'),
      },
      handler: async ({ params }, { deps }) => ({
        status: 200,
        body: await getStorageRecord({ id: params.id }, deps.stores),
      }),
    }),
  ];
}
