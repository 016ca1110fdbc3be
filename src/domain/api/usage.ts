import { z } from 'zod';

/** The query of `GET /v1/usage`. */
export const usageQuerySchema = z.strictObject({
  days: z.coerce
    .number()
    .int()
    .min(1)
    .max(31)
    .default(7)
    .describe('How many UTC days, today included (1..31).'),
  tenant: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/)
    .exactOptional()
    .describe("One tenant's usage; only an admin key may name another tenant than its own."),
});

const count = z.int().min(0);

/** One tenant's usage of one day. */
export const tenantUsageSchema = z.strictObject({
  bytes: count.describe('Bytes of request bodies that brought work (ingest, artifacts), accepted.'),
  rows: count.describe("Rows the tenant's jobs wrote."),
  jobs_enqueued: count,
  jobs_completed: count,
  jobs_failed: count.describe('Jobs that failed for good (no attempts left, or permanent).'),
});

/** `200` of `GET /v1/usage`: per UTC day, newest first, each tenant with any usage. */
export const usageReportSchema = z.strictObject({
  days: z.array(
    z.strictObject({
      day: z.string().describe('YYYY-MM-DD (UTC)'),
      tenants: z.record(z.string(), tenantUsageSchema),
    }),
  ),
});
