import { z } from 'zod';
import { WATERMARK_STATUSES } from '../watermark.js';

/** `200` of `GET /api/v1/watermarks/{source_id}` (seed 001's fields, plus the last error). */
export const watermarkViewSchema = z.strictObject({
  source_id: z.string(),
  last_successful_timestamp: z.string().nullable(),
  last_run_timestamp: z.string(),
  status: z.enum(WATERMARK_STATUSES),
  records_collected: z.int(),
  error_message: z.string().nullable(),
});

/** A rewind's audit row: who, when, from, to, why. */
export const watermarkRewindViewSchema = z.strictObject({
  id: z.int(),
  source_id: z.string(),
  from: z.string(),
  to: z.string(),
  by: z.string(),
  via: z.enum(['api', 'cli']),
  reason: z.string(),
  at: z.string(),
});

/** `200` of `POST /api/v1/watermarks/{source_id}/rewind`: the watermark after it and its audit row. */
export const watermarkRewoundSchema = z.strictObject({
  watermark: watermarkViewSchema,
  rewind: watermarkRewindViewSchema,
});

/** `200` of `GET /api/v1/watermarks/{source_id}/rewinds`: newest first. */
export const watermarkRewindsSchema = z.strictObject({
  source_id: z.string(),
  rewinds: z.array(watermarkRewindViewSchema),
});

/** The answer of a rewind. */
export type WatermarkRewound = z.output<typeof watermarkRewoundSchema>;
/** The answer of a rewinds listing. */
export type WatermarkRewinds = z.output<typeof watermarkRewindsSchema>;
