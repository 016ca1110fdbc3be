import { z } from 'zod';
import { jobStateSchema, jobStatusSchema } from './jobs.js';

/** Most jobs one page of `GET /v1/jobs` answers. */
export const MAX_JOB_PAGE = 500;

const positiveInt = (max: number, fallback: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'a positive integer')
    .transform(Number)
    .pipe(z.number().int().min(1).max(max))
    .default(fallback);

const text = (max: number) => z.string().min(1).max(max);

/** The query of `GET /v1/jobs`: every field narrows the search. */
export const jobSearchQuerySchema = z.strictObject({
  type: text(100).optional().describe('Job type, e.g. `iocs.insert`.'),
  state: jobStateSchema.exclude(['unknown']).optional().describe('Current state.'),
  tenant: text(200)
    .optional()
    .describe("The enqueuing key's tenant; a key without admin sees only its own."),
  tag: text(200)
    .optional()
    .describe('A search tag: `source:<id>`, `request:<id>`, `artifact:<key>`, `ioc:<value>`.'),
  since: z.iso
    .datetime({ offset: true, message: 'an ISO 8601 timestamp such as 2024-01-01T12:30:00Z' })
    .transform((v) => new Date(v))
    .optional()
    .describe('Enqueued at or after.'),
  cursor: z.string().max(1024).optional().describe('`next_cursor` of the previous page.'),
  limit: positiveInt(MAX_JOB_PAGE, 50).describe(`Jobs per page (1..${MAX_JOB_PAGE}, default 50).`),
});

/** The validated query of a job search. */
export type JobSearchQuery = z.output<typeof jobSearchQuerySchema>;

/** `200` of `GET /v1/jobs`: a page, newest first. */
export const jobPageSchema = z.strictObject({
  jobs: z.array(jobStatusSchema),
  next_cursor: z
    .string()
    .nullable()
    .describe(
      'Pass as `cursor` for the next page; null on the last page. A page may hold fewer than `limit` jobs and still have a next one (a state filter reads a bounded number of jobs per page).',
    ),
});

/** `200` of `DELETE /v1/jobs/{id}`. */
export const jobRemovedSchema = z.strictObject({
  id: z.string(),
  queue: z.string(),
  state: z.string().describe('The state the job was removed from.'),
});
