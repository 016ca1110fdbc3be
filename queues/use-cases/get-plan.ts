import type { MaintenancePlan, StoredPlanItem } from '../../src/domain/maintenance-plan.js';
import { NotFoundError } from '../../src/errors/index.js';
import type { MaintenancePlanStore } from '../../src/stores/postgres/maintenance-plan-store.js';

/** A plan and one page of its items in plan order; a NotFoundError naming `id`. */
export async function getPlan(
  input: { id: string; cursor?: number | undefined; limit: number; target?: string | undefined },
  deps: { plans: Pick<MaintenancePlanStore, 'get' | 'listItems'> },
): Promise<{ plan: MaintenancePlan; items: StoredPlanItem[]; nextCursor: string | null }> {
  const plan = await deps.plans.get(input.id);
  if (plan === undefined) {
    throw new NotFoundError(`no maintenance plan ${input.id}`, { plan_id: input.id }, [
      { path: 'id', message: 'no such plan' },
    ]);
  }
  const items = await deps.plans.listItems(input.id, {
    limit: input.limit + 1,
    ...(input.cursor === undefined ? {} : { after: input.cursor }),
    ...(input.target === undefined ? {} : { target: input.target }),
  });
  const page = items.slice(0, input.limit);
  const last = page.at(-1);
  return {
    plan,
    items: page,
    nextCursor: items.length > input.limit && last ? String(last.seq) : null,
  };
}
