import { z } from 'zod';
import { utcDayBoundsProblem } from '../../src/domain/timestamp.js';
import { isUtcDay } from '../../src/domain/utc-day.js';
import { defineJob } from '../job-definition.js';

/** Exports UTC days of detections, with their status history, into the Object Lock bucket. */
export const detectionsArchiveJob = defineJob({
  name: 'detections.archive',
  queue: 'archive',
  description:
    'Exports finished UTC days of detections (each with its status history) as gzip NDJSON parts and a manifest into the Object Lock bucket (archive/detections/), verifies them, and records each day in the detection archive ledger; a day with a detection updated since its newest generation is archived again as the next generation.',
  scope: 'admin',
  // A day of detections: hours, then another try resumes it.
  timeout: { ms: 6 * 60 * 60_000, retryable: true },
  payload: z.strictObject({
    /**
     * One UTC day to archive; unset: every day before today whose detections no generation
     * holds as they are now (never archived, or a detection changed or arrived since).
     */
    day: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, 'a UTC day YYYY-MM-DD')
      .refine(isUtcDay, 'not a calendar day')
      .superRefine((day, ctx) => {
        if (!isUtcDay(day)) return;
        const problem = utcDayBoundsProblem(new Date(`${day}T00:00:00Z`));
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
    /** Most days one run archives when no day is given (oldest first; the next run goes on). */
    max_days: z.number().int().min(1).max(366).default(31),
  }),
  // No idempotency key: the ledger makes a second run of an unchanged day a no-op.
  fixture: { day: '2026-01-01' },
  summary: 'detection archives under S3 Object Lock',
  // After activities.archive (01:30), before retention.cleanup (02:45) deletes archived ones.
  schedule: { key: 'DETECTIONS_ARCHIVE', cron: '45 1 * * *' },
  operator: { runNow: true, dryRun: false },
});
