import { parseIocUnit, type MaintenancePlan } from '../../src/domain/maintenance-plan.js';
import type { HotRetention } from '../../src/stores/hot/hot-retention.js';
import type { MaintenancePlanStore } from '../../src/stores/postgres/maintenance-plan-store.js';
import type { JobContext } from '../job-definition.js';
import type { HotRetentionReport } from './report.js';

/** What executing the hot part of a plan needs. */
export interface ExecuteHotDeps {
  readonly plans: Pick<MaintenancePlanStore, 'listItems' | 'settle' | 'outcomeCounts'>;
  readonly hotRetention: Pick<HotRetention, 'deletePlanned'>;
  /** RETENTION_BATCH_SIZE: planned units per delete. */
  readonly batchSize: number;
}

/**
 * Deletes the hot units of an executing plan that no execution has settled yet, a batch of
 * `batchSize` at a time in plan order: each unit only while it is in its planned state (the
 * test is inside the delete), each batch's outcomes stored before the next batch. A job
 * re-delivered after a crash resumes at the first unsettled unit; a unit its first run
 * deleted before the crash is then `skipped` (already gone). The report counts every
 * execution's outcomes.
 */
export async function executeHot(
  deps: ExecuteHotDeps,
  plan: MaintenancePlan,
  planned: HotRetentionReport,
  ctx: Pick<JobContext, 'log' | 'signal' | 'metrics'>,
  progress: (fraction: number, detail: Record<string, unknown>) => Promise<void>,
): Promise<HotRetentionReport> {
  const total = plan.counts['hot'] ?? 0;
  let batches = 0;
  let settled = 0;
  let after: number | undefined;
  for (;;) {
    ctx.signal.throwIfAborted();
    const items = await deps.plans.listItems(plan.id, {
      target: 'hot',
      pending: true,
      limit: deps.batchSize,
      ...(after === undefined ? {} : { after }),
    });
    const last = items.at(-1);
    if (last === undefined) break;
    const outcomes = await deps.hotRetention.deletePlanned(
      items.map((i) => ({
        ...parseIocUnit(i.unit),
        state: i.state,
        lastSeen: i.at ?? new Date(0),
      })),
    );
    await deps.plans.settle(
      plan.id,
      items.map((i, n) => ({ seq: i.seq, outcome: outcomes[n] ?? 'drifted' })),
    );
    batches += 1;
    settled += items.length;
    const deleted = outcomes.filter((o) => o === 'deleted').length;
    const drifted = outcomes.filter((o) => o === 'drifted').length;
    ctx.metrics.rowsDeleted(deleted);
    ctx.log.info(
      { target: 'hot', plan_id: plan.id, batch: batches, count: deleted, drifted, planned: total },
      'retention batch deleted',
    );
    if (drifted > 0) {
      ctx.log.warn(
        { target: 'hot', plan_id: plan.id, drifted },
        'planned hot rows kept: they changed after the plan was made',
      );
    }
    await progress(total === 0 ? 1 : settled / total, { batch: batches, planned: total });
    after = last.seq;
  }
  const counts = (await deps.plans.outcomeCounts(plan.id))['hot'];
  const drifted = counts?.drifted ?? 0;
  return {
    rows: counts?.deleted ?? 0,
    oldest: counts?.oldest?.toISOString() ?? null,
    newest: counts?.newest?.toISOString() ?? null,
    blocked_unarchived_rows: planned.blocked_unarchived_rows,
    kept_changed_since_archive: planned.kept_changed_since_archive + drifted,
    cutoff: planned.cutoff,
    batches,
    archive_required: planned.archive_required,
    planned: total,
    drifted,
    gone: counts?.skipped ?? 0,
  };
}
