import { createHash } from 'node:crypto';
import { z } from 'zod';
import { iocKey, iocSchema, mergeBatch, type StoredIoc } from '../../src/domain/ioc.js';
import { storedOrInline } from '../../src/domain/staged-batch.js';
import { defineJob } from '../job-definition.js';
import { iocTags } from '../job-meta.js';

/** Largest batch one iocs.insert job carries; the ingest route splits bigger requests. */
export const MAX_INSERT_BATCH = 5_000;

const payload = z.strictObject({
  iocs: z.array(iocSchema).min(1).max(MAX_INSERT_BATCH),
});

/**
 * A batch as it is staged: one record per (type, value), merged, in key order, with sorted
 * unique sources and tags (the hot store takes it as it is).
 */
export function canonicalIocBatch(iocs: z.output<typeof payload>['iocs']): StoredIoc[] {
  return mergeBatch(iocs)
    .map((ioc) => ({
      ...ioc,
      sources: [...new Set(ioc.sources)].sort(),
      tags: [...new Set(ioc.tags)].sort(),
    }))
    .sort((a, b) => {
      const ka = iocKey(a);
      const kb = iocKey(b);
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
}

/** Upserts a batch of IOCs into the hot store and caches the hot ones. */
export const iocsInsertJob = defineJob({
  name: 'iocs.insert',
  queue: 'ingest',
  description:
    'Upserts a batch of IOCs into the hot store keyed by (type, value) and caches the hot ones.',
  scope: 'ingest',
  // One batch in one transaction: minutes at most; a retry replays it idempotently.
  timeout: { ms: 10 * 60_000, retryable: true },
  payload,
  // The records wait in the batch store, validated once by the producer; the job carries
  // their digest. An inline batch is what an older producer enqueued: validated here.
  claimCheck: { kind: 'iocs', records: (p) => canonicalIocBatch(p.iocs) },
  stored: storedOrInline(payload),
  // The same batch is the same job: a collector re-posting it does not enqueue twice.
  idempotencyKey: (p) => createHash('sha256').update(JSON.stringify(p.iocs)).digest('hex'),
  tags: (p) => iocTags(p.iocs.map((ioc) => ioc.value)),
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
