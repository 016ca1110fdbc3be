import { createHash } from 'node:crypto';
import { z } from 'zod';
import { iocSchema } from '../../src/domain/ioc.js';
import { defineJob } from '../job-definition.js';

/** Largest batch one iocs.insert job carries; the ingest route splits bigger requests. */
export const MAX_INSERT_BATCH = 5_000;

/** Upserts a batch of IOCs into the hot store and caches the hot ones. */
export const iocsInsertJob = defineJob({
  name: 'iocs.insert',
  queue: 'ingest',
  description:
    'Upserts a batch of IOCs into the hot store keyed by (type, value) and caches the hot ones.',
  scope: 'ingest',
  payload: z.strictObject({
    iocs: z.array(iocSchema).min(1).max(MAX_INSERT_BATCH),
  }),
  // The same batch is the same job: a collector re-posting it does not enqueue twice.
  idempotencyKey: (p) => createHash('sha256').update(JSON.stringify(p.iocs)).digest('hex'),
  fixture: {
    iocs: [
      {
        type: 'domain',
        value: 'Evil.example.COM',
        threat_type: 'c2',
        confidence: 0.95,
        source: 'alienvault_otx',
        first_seen: '2026-01-01T00:00:00Z',
        last_seen: '2026-01-02T00:00:00Z',
        tags: ['apt'],
      },
    ],
  },
  summary: 'IOC batch inserts',
});
