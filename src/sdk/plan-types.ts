// What the SDK's plan calls send and receive: the output types of the plan routes' schemas.
import type { z } from 'zod';
import type {
  approvePlanBodySchema,
  planApprovedSchema,
  planDetailSchema,
  planItemViewSchema,
  planListSchema,
  planViewSchema,
} from '../domain/api/plans.js';

/** A maintenance plan: status, digest, parameters, counts, dry-run summary, execution report. */
export type PlanView = z.output<typeof planViewSchema>;

/** One unit a plan deletes, with the state it goes in and, once executed, its outcome. */
export type PlanItemView = z.output<typeof planItemViewSchema>;

/** `200` of `GET /v1/plans`: a page of plans, newest first. */
export type PlanList = z.output<typeof planListSchema>;

/** `200` of `GET /v1/plans/{id}`: the plan and a page of its items. */
export type PlanDetail = z.output<typeof planDetailSchema>;

/** The body of `POST /v1/plans/{id}/approve`. */
export type ApprovePlanBody = z.input<typeof approvePlanBodySchema>;

/** `200` of `POST /v1/plans/{id}/approve`: the plan and the job executing it. */
export type PlanApproved = z.output<typeof planApprovedSchema>;
