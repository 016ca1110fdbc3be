import { createHash } from 'node:crypto';
import { z } from 'zod';
import { storedOrInline } from '../../src/domain/staged-batch.js';
import { canonicalRecordBatch, storageRecordSchema } from '../../src/domain/storage-record.js';
import { defineJob } from '../job-definition.js';

/** Largest batch one records.insert job carries; the ingest route splits bigger requests. */
export const MAX_RECORD_INSERT_BATCH = 5_000;

const payload = z.strictObject({
  records: z.array(storageRecordSchema).min(1).max(MAX_RECORD_INSERT_BATCH),
});

/**
 * Stores a batch of seed 002's records: one gzip NDJSON object under Object Lock in the
 * archive bucket, an index row per record, then the hot row. On the archive queue: its work
 * is a WORM write, and a worker serving it has an S3 client.
 */
export const recordsInsertJob = defineJob({
  name: 'records.insert',
  queue: 'archive',
  description:
    'Stores a batch of records: archived as one locked gzip NDJSON object, indexed, then written to the hot store; an id stored already is a no-op with the same content and a counted conflict with another.',
  scope: 'ingest',
  // One batch in one insert: minutes at most; a retry replays it idempotently.
  timeout: { ms: 10 * 60_000, retryable: true },
  payload,
  // Staged in job_batches (kind `records`), validated once by the producer: one per id, by id.
  claimCheck: { kind: 'records', records: (p) => canonicalRecordBatch(p.records) },
  stored: storedOrInline(payload),
  // The same batch is the same job: a caller re-posting it does not enqueue twice.
  idempotencyKey: (p) =>
    createHash('sha256')
      .update(JSON.stringify(canonicalRecordBatch(p.records)))
      .digest('hex'),
  fixture: {
    records: [
      {
        id: 'unique-id',
        source_data: 'detector output',
        mapped_data: 'canonical taxonomy mapping',
        model_version: 'llama-2-7b-v1.0',
        timestamp: '2026-01-02T00:00:00Z',
        metadata: { detector: 'example' },
      },
    ],
  },
  summary: 'record stores',
});
