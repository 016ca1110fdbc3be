import { z } from 'zod';
import { defineJob } from '../job-definition.js';

/** Aborts incomplete multipart uploads older than a limit in every artifact bucket. */
export const uploadsAbortStaleJob = defineJob({
  name: 'uploads.abort-stale',
  queue: 'maintenance',
  description:
    'Aborts incomplete multipart uploads initiated longer ago than a limit (UPLOAD_STALE_HOURS by default) in the samples, TA-bundle and debug-bundle buckets.',
  scope: 'admin',
  // Aborting stale uploads: minutes.
  timeout: { ms: 30 * 60_000, retryable: true },
  payload: z.strictObject({
    /** Overrides UPLOAD_STALE_HOURS for this run. */
    older_than_hours: z
      .number()
      .positive()
      .max(24 * 365)
      .optional(),
    /** A limit in seconds; wins over older_than_hours (tests, and operators cleaning up now). */
    older_than_seconds: z
      .number()
      .int()
      .min(1)
      .max(365 * 86_400)
      .optional(),
    /** Report what would be aborted, abort nothing. */
    dry_run: z.boolean().default(false),
  }),
  fixture: { older_than_hours: 24, dry_run: true },
  summary: 'stale-upload abort',
  schedule: { key: 'ABORT_STALE_UPLOADS', cron: '35 * * * *' },
  operator: { runNow: true, dryRun: true },
});
