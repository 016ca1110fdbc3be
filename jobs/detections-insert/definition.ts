import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalDetections, detectionSchema } from '../../src/domain/detection.js';
import { storedOrInline } from '../../src/domain/staged-batch.js';
import { defineJob } from '../job-definition.js';
import { iocTags } from '../job-meta.js';

/** Largest batch one detections.insert job carries; the ingest route splits bigger requests. */
export const MAX_DETECTION_BATCH = 5_000;

const payload = z.strictObject({
  detections: z.array(detectionSchema).min(1).max(MAX_DETECTION_BATCH),
});

/** Upserts a batch of detections (seed 000's store_detection), keyed by detection_id. */
export const detectionsInsertJob = defineJob({
  name: 'detections.insert',
  queue: 'ingest',
  description:
    'Upserts a batch of detections keyed by detection_id; a re-sent detection never moves its status.',
  scope: 'ingest',
  // One batch in one insert: minutes at most; a retry replays it idempotently.
  timeout: { ms: 10 * 60_000, retryable: true },
  payload,
  // Staged in job_batches (kind `detections`), validated once by the producer.
  claimCheck: { kind: 'detections', records: (p) => canonicalDetections(p.detections) },
  stored: storedOrInline(payload),
  idempotencyKey: (p) => createHash('sha256').update(JSON.stringify(p.detections)).digest('hex'),
  tags: (p) => iocTags(p.detections.map((d) => d.ioc_value)),
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
