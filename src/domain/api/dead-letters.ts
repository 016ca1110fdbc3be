import { z } from 'zod';

/** A dead letter as the api, CLI and SDK show it (data redacted as the dashboard shows it). */
export const deadLetterViewSchema = z.strictObject({
  id: z.string().describe('The dead letter (a decimal number).'),
  queue: z.string(),
  job_id: z.string().describe('The job that failed.'),
  type: z.string(),
  data: z
    .unknown()
    .describe(
      "The job's stored data, redacted: a claim-checked type's batch reference, not its records.",
    ),
  meta: z
    .unknown()
    .describe("The job's `$meta` (enqueued_by, tenant, tags), or null when it had none."),
  tenant: z.string().nullable(),
  failure_code: z.string(),
  reason: z.string(),
  stack: z.string().nullable(),
  attempts_made: z.int(),
  max_attempts: z.int(),
  enqueued_at: z.iso.datetime(),
  failed_at: z.iso.datetime(),
  dead_lettered_at: z.iso.datetime(),
  retried_at: z.iso.datetime().nullable(),
  retry_job_id: z.string().nullable().describe('The job the retry enqueued (or re-ran).'),
});
export type DeadLetterView = z.output<typeof deadLetterViewSchema>;

/** `200` of `GET /v1/dead-letters`: one page, newest first. */
export const deadLetterPageSchema = z.strictObject({
  dead_letters: z.array(deadLetterViewSchema),
  next_cursor: z
    .string()
    .nullable()
    .describe('Pass as `cursor` for the next page; null on the last page.'),
});
export type DeadLetterPageView = z.output<typeof deadLetterPageSchema>;

/** `200` of `POST /v1/dead-letters/{id}/retry`. */
export const deadLetterRetriedSchema = z.strictObject({
  retried: z
    .boolean()
    .describe('false: an earlier retry enqueued the job already; nothing was enqueued now.'),
  job_id: z.string().describe('The job that runs the retry.'),
  status_url: z.string(),
  dead_letter: deadLetterViewSchema,
});
export type DeadLetterRetried = z.output<typeof deadLetterRetriedSchema>;

/** `200` of `DELETE /v1/dead-letters/{id}` and `POST /v1/dead-letters/purge`. */
export const deadLettersPurgedSchema = z.strictObject({
  purged: z.int().describe('Dead letters removed.'),
});
