import { z } from 'zod';
import { ACTIVITY_SOURCES } from '../activity-source.js';
import { DETECTION_STATUSES, SEVERITIES } from '../detection.js';
import { IOC_TYPES } from '../ioc.js';

/** A detection as stored: the detector's fields and its workflow state. */
export const detectionViewSchema = z.strictObject({
  detection_id: z.string(),
  timestamp: z.iso.datetime(),
  ioc_value: z.string(),
  ioc_type: z.enum(IOC_TYPES),
  activity_event_id: z.string(),
  activity_source: z.enum(ACTIVITY_SOURCES),
  severity: z.enum(SEVERITIES),
  confidence: z.number(),
  first_seen: z.iso.datetime(),
  last_seen: z.iso.datetime(),
  status: z.enum(DETECTION_STATUSES),
  case_id: z.string().nullable(),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
});

/** One status change of a detection. */
export const detectionStatusChangeSchema = z.strictObject({
  from: z.enum(DETECTION_STATUSES),
  to: z.enum(DETECTION_STATUSES),
  case_id: z.string().nullable(),
  by: z.string().describe('The name of the API key that made the change.'),
  at: z.iso.datetime(),
  note: z.string().nullable(),
});

/** `200` of `GET /v1/detections/{detection_id}`: the detection and its status history. */
export const detectionWithHistorySchema = z.strictObject({
  detection: detectionViewSchema,
  history: z.array(detectionStatusChangeSchema).describe('Oldest change first.'),
});

/** `200` of `POST /v1/detections/{detection_id}/status`. */
export const detectionStatusChangedSchema = z.strictObject({
  changed: z
    .boolean()
    .describe('false: the detection had this status (and case id) already; nothing written.'),
  detection: detectionViewSchema,
  change: detectionStatusChangeSchema.optional(),
});

/** `200` of `GET /v1/detections`: one page, newest first. */
export const detectionPageSchema = z.strictObject({
  detections: z.array(detectionViewSchema),
  next_cursor: z
    .string()
    .nullable()
    .describe('Pass as `cursor` for the next page; null on the last page.'),
});

/** `200` of `GET /v1/detections/stats`. */
export const detectionStatsSchema = z.strictObject({
  total: z.int(),
  by_severity: z.record(z.enum(SEVERITIES), z.int()),
  by_status: z.record(z.enum(DETECTION_STATUSES), z.int()),
});

/** `202` of `POST /v1/ingest/detections` without a watermark: plain detections.insert jobs. */
export const detectionIngestJobsSchema = z.strictObject({
  source_id: z.string().exactOptional(),
  detections: z.int(),
  jobs: z.array(z.strictObject({ id: z.string(), type: z.string() })),
});

/** `202` of `POST /v1/ingest/detections` with a watermark: one watermark.commit flow. */
export const detectionIngestFlowSchema = z.strictObject({
  id: z.string(),
  type: z.literal('watermark.commit'),
  source_id: z.string(),
  detections: z.int(),
  chunks: z.int(),
  replayed: z.boolean(),
  children: z.array(z.string()),
  status_url: z.string(),
});

/** Either answer of `POST /v1/ingest/detections`. */
export const detectionIngestAcceptedSchema = z.union([
  detectionIngestFlowSchema,
  detectionIngestJobsSchema,
]);

export type DetectionView = z.output<typeof detectionViewSchema>;
export type DetectionStatusChangeView = z.output<typeof detectionStatusChangeSchema>;
export type DetectionWithHistory = z.output<typeof detectionWithHistorySchema>;
export type DetectionStatusChanged = z.output<typeof detectionStatusChangedSchema>;
export type DetectionPage = z.output<typeof detectionPageSchema>;
export type DetectionStatsView = z.output<typeof detectionStatsSchema>;
export type DetectionIngestAccepted = z.output<typeof detectionIngestAcceptedSchema>;
