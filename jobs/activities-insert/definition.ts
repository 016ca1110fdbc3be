import { createHash } from 'node:crypto';
import { z } from 'zod';
import { activitySchema, canonicalActivityBatch } from '../../src/domain/activity.js';
import { storedOrInline } from '../../src/domain/staged-batch.js';
import { defineJob } from '../job-definition.js';

/** Largest batch one activities.insert job carries; the ingest route splits bigger requests. */
export const MAX_ACTIVITY_INSERT_BATCH = 5_000;

const payload = z.strictObject({
  activities: z.array(activitySchema).min(1).max(MAX_ACTIVITY_INSERT_BATCH),
});

/** Appends a batch of activity events to the activity store, each event once. */
export const activitiesInsertJob = defineJob({
  name: 'activities.insert',
  queue: 'ingest',
  description:
    'Appends a batch of activity events to the activity store; an event already stored (same source, timestamp and event_id) is left as it is.',
  scope: 'ingest',
  // One batch in one insert: minutes at most; a retry replays it idempotently.
  timeout: { ms: 10 * 60_000, retryable: true },
  payload,
  // The records wait in the batch store, validated once by the producer: one per identity,
  // in search order. The job carries their digest.
  claimCheck: { kind: 'activities', records: (p) => canonicalActivityBatch(p.activities) },
  stored: storedOrInline(payload),
  // The same batch is the same job: a collector re-posting it does not enqueue twice.
  idempotencyKey: (p) =>
    createHash('sha256')
      .update(JSON.stringify(canonicalActivityBatch(p.activities)))
      .digest('hex'),
  fixture: {
    activities: [
      {
        event_id: 'evt_123',
        timestamp: '2026-01-01T00:00:00Z',
        source: 'dns',
        event_type: 'dns_query',
        domain: 'evil.com',
      },
    ],
  },
  summary: 'activity event inserts',
});
