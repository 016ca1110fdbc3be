import { z } from 'zod';
import { utcDayBoundsProblem } from '../../src/domain/timestamp.js';
import { isUtcDay } from '../../src/domain/utc-day.js';
import { defineJob } from '../job-definition.js';

/** Exports UTC days of activity events into the Object Lock bucket and records them. */
export const activitiesArchiveJob = defineJob({
  name: 'activities.archive',
  queue: 'archive',
  description:
    'Exports finished UTC days of activity events as gzip NDJSON parts and a manifest into the Object Lock bucket (archive/activities/), verifies them, and records each day in the activity archive ledger; a day holding events its newest generation does not is archived again as the next generation.',
  scope: 'admin',
  // A day of activities is large: hours, then another try resumes it.
  timeout: { ms: 6 * 60 * 60_000, retryable: true },
  payload: z.strictObject({
    /**
     * One UTC day to archive; unset: every day before today whose events no generation
     * holds as they are now (never archived, a late event since, or dropped and refilled).
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
  summary: 'activity archives under S3 Object Lock',
  // After archive.lock (01:15), before retention.cleanup (02:45) drops archived days.
  schedule: { key: 'ACTIVITIES_ARCHIVE', cron: '30 1 * * *' },
  operator: { runNow: true, dryRun: false },
});
