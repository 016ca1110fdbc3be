import { z } from 'zod';
import { utcDayBoundsProblem } from '../../src/domain/timestamp.js';
import { isUtcDay } from '../../src/domain/utc-day.js';
import { defineJob } from '../job-definition.js';

/** Exports UTC days of hot-store rows into the Object Lock bucket and records them in the ledger. */
export const archiveLockJob = defineJob({
  name: 'archive.lock',
  queue: 'archive',
  description:
    'Exports UTC days of hot-store IOCs (by last_seen) as gzip NDJSON parts and a manifest into the Object Lock bucket, verifies them, and records each day in the archive ledger; a day that changed since its archive is archived again as the next generation.',
  scope: 'admin',
  // A day's export and Object Lock PUTs: hours, not days.
  timeout: { ms: 6 * 60 * 60_000, retryable: true },
  payload: z.strictObject({
    /**
     * One UTC day to archive; unset: every day before today that the ledger does not hold
     * as it is now (never archived, or changed since its newest generation).
     */
    day: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, 'a UTC day YYYY-MM-DD')
      .refine(isUtcDay, 'not a calendar day')
      // Within the timestamp bounds, like every instant a job takes: a day before the floor
      // or in the future holds no row the ingest routes could have accepted.
      .superRefine((day, ctx) => {
        if (!isUtcDay(day)) return;
        const problem = utcDayBoundsProblem(new Date(`${day}T00:00:00Z`));
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
    /** Most days one run archives when no day is given (oldest first; the next run goes on). */
    max_days: z.number().int().min(1).max(366).default(31),
  }),
  // No idempotency key: the ledger makes a second run of an unchanged day a no-op, and a key would
  // keep a failed run's id and refuse a new one after the bucket has been fixed.
  fixture: { day: '2026-01-01' },
  summary: 'WORM archives under S3 Object Lock',
  schedule: { key: 'ARCHIVE', cron: '15 1 * * *' },
  operator: { runNow: true, dryRun: false },
});
