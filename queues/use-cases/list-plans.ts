import type { MaintenancePlan, PlanStatus } from '../../src/domain/maintenance-plan.js';
import type { MaintenancePlanStore } from '../../src/stores/postgres/maintenance-plan-store.js';

/** Plans newest first, a page at a time (the cursor is the last id of the previous page). */
export async function listPlans(
  input: { status?: PlanStatus | undefined; cursor?: string | undefined; limit: number },
  deps: { plans: Pick<MaintenancePlanStore, 'list'> },
): Promise<{ plans: MaintenancePlan[]; nextCursor: string | null }> {
  const plans = await deps.plans.list({
    before: input.cursor,
    status: input.status,
    limit: input.limit + 1,
  });
  const page = plans.slice(0, input.limit);
  return { plans: page, nextCursor: plans.length > input.limit ? (page.at(-1)?.id ?? null) : null };
}
