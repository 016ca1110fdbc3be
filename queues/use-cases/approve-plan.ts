import type { MaintenancePlan } from '../../src/domain/maintenance-plan.js';
import { ConflictError, NotFoundError } from '../../src/errors/index.js';
import type { MaintenancePlanStore } from '../../src/stores/postgres/maintenance-plan-store.js';
import type { AnyJobDefinition } from '../../jobs/job-definition.js';
import type { Producer } from '../producer.js';

/** An approved plan and the job that executes it. */
export interface ApprovedPlan {
  plan: MaintenancePlan;
  /** The execution job (one per plan: approving again names the same job). */
  jobId: string;
}

/**
 * Approves a plan by the digest the approver saw, then enqueues its execution (the plan's own
 * job with `plan_id`). A NotFoundError for an unknown plan; a ConflictError (409) when the
 * digest is not the plan's, or the plan is refused or expired (older than maxAgeMs). Approving
 * an approved or executed plan again with its digest enqueues nothing new: the execution job's
 * id is derived from the plan (while BullMQ keeps the job), and executing an executed plan
 * only returns its report.
 */
export async function approvePlan(
  input: { id: string; digest: string; by: string },
  deps: {
    plans: Pick<MaintenancePlanStore, 'approve'>;
    producer: Pick<Producer<readonly AnyJobDefinition[]>, 'enqueueByName'>;
    maxAgeMs: number;
  },
): Promise<ApprovedPlan> {
  const result = await deps.plans.approve(input.id, {
    digest: input.digest,
    by: input.by,
    maxAgeMs: deps.maxAgeMs,
  });
  if (result.outcome === 'not_found') {
    throw new NotFoundError(`no maintenance plan ${input.id}`, { plan_id: input.id }, [
      { path: 'id', message: 'no such plan' },
    ]);
  }
  const { plan } = result;
  if (result.outcome === 'digest_mismatch') {
    throw new ConflictError(
      `plan ${input.id} has another digest: it is not the plan that was reviewed; review it again`,
      { plan_id: input.id, status: plan.status },
      [{ path: 'digest', message: 'not the digest of this plan' }],
    );
  }
  if (result.outcome === 'expired' || result.outcome === 'not_approvable') {
    throw new ConflictError(
      `plan ${input.id} is ${plan.status}: plan again (a dry run) and approve the new plan`,
      { plan_id: input.id, status: plan.status },
    );
  }
  const job = await deps.producer.enqueueByName(
    plan.job,
    { dry_run: false, plan_id: plan.id },
    { idempotencyKey: `plan:${plan.id}:${plan.digest}` },
  );
  return { plan, jobId: job.id };
}
