import { z } from 'zod';
import { defineJob } from '../job-definition.js';

/** Removes staged batches whose job is gone. */
export const batchesSweepJob = defineJob({
  name: 'batches.sweep',
  queue: 'maintenance',
  description:
    'Removes the staged record batches (PostgreSQL job_batches) whose iocs.insert job no longer exists in its queue (removed by retention or by hand) and that no dead letter waiting for a retry names.',
  scope: 'admin',
  // A sweep of staged batches: minutes; the next tick continues it.
  timeout: { ms: 30 * 60_000, retryable: true },
  payload: z.strictObject({
    /** Batches younger than this are left alone (a producer may be enqueueing their job). */
    older_than_minutes: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 60)
      .default(60),
    /** Most batches looked at in one run. */
    limit: z.number().int().min(1).max(1_000_000).default(100_000),
    /** Report what would be removed, remove nothing. */
    dry_run: z.boolean().default(false),
  }),
  fixture: { older_than_minutes: 60, dry_run: true },
  summary: 'staged-batch sweep',
  schedule: { key: 'SWEEP_BATCHES', cron: '*/15 * * * *' },
  operator: { runNow: true, dryRun: true },
});
