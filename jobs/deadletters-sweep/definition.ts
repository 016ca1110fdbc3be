import { z } from 'zod';
import { defineJob } from '../job-definition.js';

/** Copies failed jobs of every queue into the dead-letter store when the worker could not. */
export const deadlettersSweepJob = defineJob({
  name: 'deadletters.sweep',
  queue: 'maintenance',
  description:
    'Copies every failed job of every queue not yet in the dead-letter store (PostgreSQL dead_letters): the failures a worker could not record when they happened (PostgreSQL away, worker killed), and jobs failed by the stalled check.',
  scope: 'admin',
  payload: z.strictObject({
    /** Most failed jobs looked at per queue in one run (newest first). */
    limit: z.number().int().min(1).max(1_000_000).default(100_000),
    /** Report what would be copied, copy nothing. */
    dry_run: z.boolean().default(false),
  }),
  fixture: { limit: 1000, dry_run: true },
  summary: 'dead-letter sweep',
  schedule: { key: 'SWEEP_DEAD_LETTERS', cron: '*/5 * * * *' },
  operator: { runNow: true, dryRun: true },
});
