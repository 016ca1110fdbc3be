import { z } from 'zod';
import {
  approvePlanBodySchema,
  planApprovedSchema,
  planDetailSchema,
  planListSchema,
  toPlanItemView,
  toPlanView,
} from '../../domain/api/plans.js';
import { PLAN_STATUSES } from '../../domain/maintenance-plan.js';
import { approvePlan } from '../../../queues/use-cases/approve-plan.js';
import { getPlan } from '../../../queues/use-cases/get-plan.js';
import { listPlans } from '../../../queues/use-cases/list-plans.js';
import { defineRoute, ok, problem } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';

const MAX_LIMIT = 1_000;

const idParamsSchema = z.strictObject({
  id: z
    .string()
    .regex(/^[0-9]{1,18}$/, 'a plan id (digits)')
    .describe('The plan id.'),
});

const limitSchema = z.coerce
  .number()
  .int()
  .min(1)
  .max(MAX_LIMIT)
  .default(100)
  .describe(`Entries per page (1..${MAX_LIMIT}, default 100).`);

const listQuerySchema = z.strictObject({
  status: z.enum(PLAN_STATUSES).optional().describe('Only plans in this status.'),
  cursor: z
    .string()
    .regex(/^[0-9]{1,18}$/)
    .optional()
    .describe('The `next_cursor` of the previous page.'),
  limit: limitSchema,
});

const showQuerySchema = z.strictObject({
  cursor: z.coerce
    .number()
    .int()
    .min(0)
    .optional()
    .describe('The `next_cursor` of the previous page of items.'),
  limit: limitSchema,
  target: z.string().max(64).optional().describe('Only the items of this target (`hot`).'),
});

type PlanDeps = Pick<ApiRouteDeps, 'producer'> & {
  stores: Pick<ApiRouteDeps['stores'], 'maintenancePlans' | 'settings'>;
};
const route = defineRoute<PlanDeps>();
const badInput = problem('Bad input; `errors` names each failing field');

/**
 * Plans of destructive maintenance (retention.cleanup's dry run stores one): list and read
 * them with `read`; approve one with `admin`, naming the digest that was reviewed, which
 * enqueues its execution.
 */
export const planRouteTable = [
  route({
    operationId: 'listPlans',
    method: 'get',
    path: '/v1/plans',
    summary: 'Maintenance plans, newest first',
    access: 'read',
    query: listQuerySchema,
    responses: { 200: ok(planListSchema, 'One page of plans'), 400: badInput },
    handler: async ({ query }, { deps }) => {
      const page = await listPlans(query, { plans: deps.stores.maintenancePlans });
      return {
        status: 200,
        body: { plans: page.plans.map(toPlanView), next_cursor: page.nextCursor },
      };
    },
  }),
  route({
    operationId: 'getPlan',
    method: 'get',
    path: '/v1/plans/{id}',
    summary: 'A maintenance plan and a page of its items (what exactly it deletes)',
    access: 'read',
    params: idParamsSchema,
    query: showQuerySchema,
    responses: {
      200: ok(planDetailSchema, 'The plan and a page of its items'),
      400: badInput,
      404: problem('No such plan'),
    },
    handler: async ({ params, query }, { deps }) => {
      const found = await getPlan(
        { id: params.id, cursor: query.cursor, limit: query.limit, target: query.target },
        { plans: deps.stores.maintenancePlans },
      );
      return {
        status: 200,
        body: {
          plan: toPlanView(found.plan),
          items: found.items.map(toPlanItemView),
          next_cursor: found.nextCursor,
        },
      };
    },
  }),
  route({
    operationId: 'approvePlan',
    method: 'post',
    path: '/v1/plans/{id}/approve',
    summary: 'Approve a plan by the digest reviewed (admin); enqueues its execution',
    access: 'admin',
    params: idParamsSchema,
    body: approvePlanBodySchema,
    bodyDescription: 'The digest of the plan as reviewed',
    openapi: { components: { ApprovePlanBody: approvePlanBodySchema } },
    responses: {
      200: ok(planApprovedSchema, 'Approved (or already approved); the execution job'),
      400: badInput,
      404: problem('No such plan'),
      409: problem('The digest is not the plan’s, or the plan is refused or expired'),
    },
    handler: async ({ params, body }, { caller, deps }) => {
      const approved = await approvePlan(
        { id: params.id, digest: body.digest, by: caller?.name ?? 'unknown' },
        {
          plans: deps.stores.maintenancePlans,
          producer: deps.producer,
          maxAgeMs: deps.stores.settings.retention.planMaxAgeMs,
        },
      );
      return {
        status: 200,
        body: {
          plan: toPlanView(approved.plan),
          job: { id: approved.jobId, status_url: `/v1/jobs/${approved.jobId}` },
        },
      };
    },
  }),
];
