import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalDetections, detectionSchema } from '../../src/domain/detection.js';
import { stagedBatchSchema } from '../../src/domain/staged-batch.js';
import { defineJob } from '../job-definition.js';

/** Largest batch one detections.insert job carries; the ingest route splits bigger requests. */
export const MAX_DETECTION_BATCH = 5_000;

const payload = z.strictObject({
  detections: z.array(detectionSchema).min(1).max(MAX_DETECTION_BATCH),
});

const staged = z.strictObject({ batch: stagedBatchSchema });

/**
 * What the worker parses: the staged reference, or (the batch store was away when the
 * producer enqueued) the records inline, validated here.
 */
const storedPayload = z
  .unknown()
  .transform((value, ctx): z.output<typeof staged> | z.output<typeof payload> => {
    const form = value !== null && typeof value === 'object' && 'batch' in value ? staged : payload;
    const parsed = form.safeParse(value);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: issue.path });
    return z.NEVER;
  });

/** Upserts a batch of detections (seed 000's store_detection), keyed by detection_id. */
export const detectionsInsertJob = defineJob({
  name: 'detections.insert',
  queue: 'ingest',
  description:
    'Upserts a batch of detections keyed by detection_id; a re-sent detection never moves its status.',
  scope: 'ingest',
  payload,
  // Staged in job_batches (kind `detections`), validated once by the producer.
  claimCheck: { kind: 'detections', records: (p) => canonicalDetections(p.detections) },
  stored: storedPayload,
  idempotencyKey: (p) => createHash('sha256').update(JSON.stringify(p.detections)).digest('hex'),
  fixture: {
    detections: [
      {
        detection_id: 'det_123',
        timestamp: '2026-01-02T00:00:00Z',
        ioc_value: 'evil.com',
        ioc_type: 'domain',
        activity_event_id: 'evt_123',
        activity_source: 'dns',
        severity: 'HIGH',
        confidence: 0.95,
        first_seen: '2026-01-01T00:00:00Z',
        last_seen: '2026-01-02T00:00:00Z',
      },
    ],
  },
  summary: 'detection batch inserts',
});
