import { z } from 'zod';

/** `202` of `POST /v1/ingest/iocs` with a watermark: one `watermark.commit` flow over the inserts. */
export const ingestFlowAcceptedSchema = z.strictObject({
  id: z.string(),
  type: z.literal('watermark.commit'),
  source_id: z.string(),
  iocs: z.int(),
  chunks: z.int(),
  replayed: z.boolean(),
  children: z.array(z.string()).exactOptional(),
  status_url: z.string(),
});

/** `202` of `POST /v1/ingest/iocs` without a watermark: plain `iocs.insert` jobs. */
export const ingestJobsAcceptedSchema = z.strictObject({
  source_id: z.string(),
  iocs: z.int(),
  jobs: z.array(z.strictObject({ id: z.string(), type: z.string() })),
});

/** Either answer of `POST /v1/ingest/iocs`. */
export const ingestAcceptedSchema = z.union([ingestFlowAcceptedSchema, ingestJobsAcceptedSchema]);
