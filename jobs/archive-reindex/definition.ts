import { z } from 'zod';
import { defineJob } from '../job-definition.js';

/** Indexes archived days that have no index rows, so that look-ups find their IOCs. */
export const archiveReindexJob = defineJob({
  name: 'archive.reindex',
  queue: 'archive',
  description:
    "Indexes recorded archive generations that have no archive_index rows (archived before the index existed): reads each day's newest generation back from the Object Lock bucket, verified, and indexes its IOCs for hot-then-cold look-ups.",
  scope: 'admin',
  // Reads the whole archive index: long, resumable by a retry.
  timeout: { ms: 6 * 60 * 60_000, retryable: true },
  payload: z.strictObject({
    /** Most days one run indexes (oldest first; the next run goes on). */
    max_days: z.number().int().min(1).max(3660).default(366),
  }),
  // No idempotency key: a second run finds nothing left to index.
  fixture: { max_days: 31 },
  summary: 'archive index backfill',
  operator: { runNow: true, dryRun: false },
});
