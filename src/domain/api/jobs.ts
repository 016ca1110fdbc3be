import { z } from 'zod';

/** A job named by the api: its id, type and queue (an item of a bulk enqueue's answer). */
export const jobRefSchema = z.strictObject({
  id: z.string(),
  type: z.string(),
  queue: z.string(),
});

/** `202` of `POST /v1/jobs/{type}` and `POST /v1/maintenance/{job}`: the job and where to poll it. */
export const jobAcceptedSchema = z.strictObject({
  ...jobRefSchema.shape,
  status_url: z.string(),
});

/** `202` of `POST /v1/jobs/{type}/bulk`: one job per payload, in order. */
export const jobsAcceptedSchema = z.strictObject({ jobs: z.array(jobRefSchema) });

/**
 * BullMQ's states, `waiting-children` for a flow parent whose children still run, and
 * `cancelled` for a job cancelled while it ran (BullMQ keeps it as failed, reason `job_cancelled: …`).
 */
export const jobStateSchema = z.enum([
  'waiting',
  'waiting-children',
  'delayed',
  'prioritized',
  'active',
  'completed',
  'failed',
  'cancelled',
  'unknown',
]);

/** `200` of `GET /v1/jobs/{id}`: state, progress, attempts, result (payload redacted). */
export const jobStatusSchema = z.strictObject({
  id: z.string(),
  type: z.string(),
  queue: z.string(),
  state: jobStateSchema,
  progress: z.union([z.number(), z.record(z.string(), z.unknown())]),
  attempts_made: z.int(),
  max_attempts: z.int(),
  return_value: z.unknown(),
  failed_reason: z.string().nullable(),
  created_at: z.iso.datetime(),
  processed_at: z.iso.datetime().nullable(),
  finished_at: z.iso.datetime().nullable(),
  /** Counts of a flow parent's children by state. */
  children: z
    .record(z.string(), z.number())
    .describe('Dependency counts of a flow parent.')
    .exactOptional(),
  enqueued_by: z
    .string()
    .nullable()
    .describe('The API key (by name), `scheduler` or `cli:<user>` that enqueued the job.'),
  tenant: z.string().nullable().describe("The enqueuing key's tenant; null for in-process work."),
  tags: z.array(z.string()).describe('Search tags: `source:<id>`, `request:<id>`, …'),
  dashboard_url: z
    .string()
    .describe(
      "The job's page on the dashboard (Bull Board): absolute when DASHBOARD_PUBLIC_URL or API_PUBLIC_URL is set, else a path under DASHBOARD_PATH.",
    )
    .exactOptional(),
  payload: z.record(z.string(), z.unknown()),
});

/** `POST /v1/jobs/{id}/cancel`: what the cancel did. */
export const jobCancelSchema = z.strictObject({
  ...jobRefSchema.shape,
  state: z
    .enum(['removed', 'cancelling', 'cancelled'])
    .describe(
      '`removed`: it had not started and is gone; `cancelling`: it runs and is aborted at its next await, then reads `cancelled`; `cancelled`: it already was.',
    ),
  status_url: z.string(),
});
