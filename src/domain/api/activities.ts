import { z } from 'zod';
import { activitySchema } from '../activity.js';

/** `202` of `POST /v1/ingest/activities` with a watermark: one `watermark.commit` flow over the inserts. */
export const activityIngestFlowAcceptedSchema = z.strictObject({
  id: z.string(),
  type: z.literal('watermark.commit'),
  source_id: z.string(),
  activities: z.int(),
  chunks: z.int(),
  replayed: z.boolean(),
  children: z.array(z.string()).exactOptional(),
  status_url: z.string(),
});

/** `202` of `POST /v1/ingest/activities` without a watermark: plain `activities.insert` jobs. */
export const activityIngestJobsAcceptedSchema = z.strictObject({
  source_id: z.string().exactOptional(),
  activities: z.int(),
  jobs: z.array(z.strictObject({ id: z.string(), type: z.string() })),
});

/** Either answer of `POST /v1/ingest/activities`. */
export const activityIngestAcceptedSchema = z.union([
  activityIngestFlowAcceptedSchema,
  activityIngestJobsAcceptedSchema,
]);

/** An activity event as stored and answered: the timestamp is ISO 8601 UTC. */
export const storedActivitySchema = activitySchema.extend({ timestamp: z.string() });

/** `200` of `GET /v1/activities`. */
export const activityPageSchema = z.strictObject({
  start_time: z.string(),
  end_time: z.string(),
  activities: z.array(storedActivitySchema),
  next_cursor: z.string().nullable(),
});

/** `200` of `GET /v1/activities/stats`. */
export const activityStatsSchema = z.strictObject({
  start_time: z.string(),
  end_time: z.string(),
  total: z.int(),
  counts: z.array(z.strictObject({ source: z.string(), event_type: z.string(), count: z.int() })),
});
