import { z } from 'zod';
import { storageRecordSchema } from '../storage-record.js';

/** `202` of `POST /v1/records` with a watermark: one `watermark.commit` flow over the stores. */
export const recordIngestFlowAcceptedSchema = z.strictObject({
  id: z.string(),
  type: z.literal('watermark.commit'),
  source_id: z.string(),
  records: z.int(),
  chunks: z.int(),
  replayed: z.boolean(),
  children: z.array(z.string()).exactOptional(),
  status_url: z.string(),
});

/** `202` of `POST /v1/records` without a watermark: plain `records.insert` jobs. */
export const recordIngestJobsAcceptedSchema = z.strictObject({
  source_id: z.string().exactOptional(),
  records: z.int(),
  jobs: z.array(z.strictObject({ id: z.string(), type: z.string() })),
});

/** Either answer of `POST /v1/records`. */
export const recordIngestAcceptedSchema = z.union([
  recordIngestFlowAcceptedSchema,
  recordIngestJobsAcceptedSchema,
]);

/** A record as stored and answered: the timestamp is ISO 8601 UTC. */
export const storedRecordSchema = storageRecordSchema.extend({
  timestamp: z.string(),
  metadata: z.record(z.string(), z.unknown()),
});

/** `200` of `GET /v1/records/{id}`: the record and where it was read from. */
export const recordReadSchema = z.strictObject({
  tier: z
    .enum(['hot', 'archive'])
    .describe('`hot`: the hot store; `archive`: past hot retention, read from the WORM archive.'),
  record: storedRecordSchema,
});
