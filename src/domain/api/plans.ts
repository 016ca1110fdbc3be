import { z } from 'zod';
import {
  PLAN_ITEM_OUTCOMES,
  PLAN_STATUSES,
  type MaintenancePlan,
  type StoredPlanItem,
} from '../maintenance-plan.js';

const planIdSchema = z.string().regex(/^[0-9]{1,18}$/, 'a plan id (digits)');
const digestSchema = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 digest (64 lower-case hex)');

/** A plan as the API shows it (dates as ISO 8601). */
export const planViewSchema = z.strictObject({
  id: planIdSchema,
  job: z.string().describe('The job that planned it and executes it (`retention.cleanup`).'),
  status: z.enum(PLAN_STATUSES),
  digest: digestSchema.describe('SHA-256 of the parameters and every item: what approval names.'),
  parameters: z.record(z.string(), z.unknown()).describe('as_of, windows, targets, backend.'),
  counts: z.record(z.string(), z.int()).describe('Units listed per plan-based target.'),
  summary: z.record(z.string(), z.unknown()).describe('The dry-run report the plan was made with.'),
  unplanned: z
    .array(z.string())
    .describe('Targets not listed unit by unit: they execute live, at their own checks.'),
  planned_by: z.string(),
  planned_at: z.string(),
  approved_by: z.string().nullable(),
  approved_at: z.string().nullable(),
  executed_at: z.string().nullable(),
  report: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe("The execution's report (deleted, drifted, gone per target); null before."),
  executions: z.int(),
});

/** One planned unit as the API shows it. */
export const planItemViewSchema = z.strictObject({
  seq: z.int(),
  target: z.string(),
  unit: z.string().describe('What goes: `type|value` for a hot IOC.'),
  state: z.string().describe('The state it goes in only (a row version, a sighting).'),
  at: z.string().nullable().describe('Its last_seen when planned.'),
  outcome: z.enum(PLAN_ITEM_OUTCOMES).nullable().describe('Null until an execution settled it.'),
});

/** `200` of `GET /v1/plans`. */
export const planListSchema = z.strictObject({
  plans: z.array(planViewSchema),
  next_cursor: z
    .string()
    .nullable()
    .describe('Pass as `cursor` for the next page; null on the last.'),
});

/** `200` of `GET /v1/plans/{id}`: the plan and one page of its items. */
export const planDetailSchema = z.strictObject({
  plan: planViewSchema,
  items: z.array(planItemViewSchema),
  next_cursor: z
    .string()
    .nullable()
    .describe('Pass as `cursor` for the next page of items; null on the last.'),
});

/** The body of `POST /v1/plans/{id}/approve`. */
export const approvePlanBodySchema = z.strictObject({
  digest: digestSchema.describe('The digest of the plan as the approver saw it.'),
});

/** `200` of `POST /v1/plans/{id}/approve`: the plan and the job executing it. */
export const planApprovedSchema = z.strictObject({
  plan: planViewSchema,
  job: z.strictObject({ id: z.string(), status_url: z.string() }),
});

export type PlanView = z.output<typeof planViewSchema>;
export type PlanItemView = z.output<typeof planItemViewSchema>;
export type PlanList = z.output<typeof planListSchema>;
export type PlanDetail = z.output<typeof planDetailSchema>;
export type PlanApproved = z.output<typeof planApprovedSchema>;

/** A stored plan as the API shows it. */
export function toPlanView(plan: MaintenancePlan): PlanView {
  return {
    ...plan,
    unplanned: [...plan.unplanned],
    planned_at: plan.planned_at.toISOString(),
    approved_at: plan.approved_at?.toISOString() ?? null,
    executed_at: plan.executed_at?.toISOString() ?? null,
  };
}

/** A stored item as the API shows it. */
export function toPlanItemView(item: StoredPlanItem): PlanItemView {
  return { ...item, at: item.at?.toISOString() ?? null };
}
