import { UTC_DAY_MS, utcDayNumberOf, utcDayOf } from '../../src/domain/utc-day.js';
import type { ActivityStore } from '../../src/stores/hot/activity-store.js';
import type { ActivityArchiveLedger } from '../../src/stores/postgres/activity-archive-ledger.js';
import type { LatestGeneration } from '../../src/stores/postgres/archive-ledger.js';
import {
  summarizeRetentionDays,
  type ArchiveBounds,
  type HotRetention,
  type PlannedIndicator,
} from '../../src/stores/hot/hot-retention.js';
import type { SampleRetention } from '../../src/stores/s3/sample-retention.js';
import type { MaintenancePlanStore } from '../../src/stores/postgres/maintenance-plan-store.js';
import {
  PlanDigest,
  UNPLANNED,
  iocUnit,
  type MaintenancePlan,
  type PlanItem,
} from '../../src/domain/maintenance-plan.js';
import { PermanentError } from '../../src/errors/index.js';
import type { Handler, JobContext, PayloadOf } from '../job-definition.js';
import type { RetentionTarget, retentionCleanupJob } from './definition.js';
import type {
  ActivityRetentionDay,
  ActivityRetentionReport,
  HotRetentionReport,
  RetentionPlanRef,
  RetentionReport,
  SampleRetentionReport,
} from './report.js';
import { executeHot } from './execute-hot.js';
import { cleanRecords, type RecordRetentionDeps } from './records.js';
import { cleanDetections } from './detections.js';
import type { PostgresDetectionRetention } from '../../src/stores/postgres/detection-retention.js';

/** The archive ledger as retention reads it. */
export interface ArchivedDaysReader {
  /** The newest generation of each archived day ('YYYY-MM-DD') overlapping [from, to). */
  latestGenerations(from: Date, to: Date): Promise<Map<string, LatestGeneration>>;
}

/** The settings retention.cleanup reads (projected from configuration once). */
export interface RetentionSettings {
  /** ARCHIVE_ENABLED: hot rows go only once their day is archived. */
  readonly archiveEnabled: boolean;
  /** HOT_RETENTION_DAYS: the hot window, unless a payload says otherwise. */
  readonly hotRetentionDays: number;
  /** SAMPLE_RETENTION_ENABLED and SAMPLE_RETENTION_DAYS: the sample window. */
  readonly sampleRetentionEnabled: boolean;
  readonly sampleRetentionDays: number;
  /** RETENTION_BATCH_SIZE: rows or objects per delete. */
  readonly batchSize: number;
  /** ACTIVITY_RETENTION_DAYS: the activity window, unless a payload says otherwise. */
  readonly activityRetentionDays: number;
  /** DETECTION_RETENTION_DAYS: the detection window, unless a payload says otherwise. */
  readonly detectionRetentionDays: number;
  /**
   * RETENTION_APPROVAL: `auto` executes a run's own plan at once; `manual` only plans, and an
   * admin's approval enqueues the execution.
   */
  readonly approval: 'auto' | 'manual';
  /** RETENTION_PLAN_MAX_AGE_HOURS, in ms: an older plan can no longer be approved. */
  readonly planMaxAgeMs: number;
}

/** What retention.cleanup needs. */
export interface RetentionCleanupDeps {
  readonly settings: RetentionSettings;
  readonly hotRetention: HotRetention;
  readonly archiveLedger: ArchivedDaysReader;
  readonly sampleRetention: SampleRetention;
  /** Where plans, their items and execution reports are kept (PostgreSQL). */
  readonly plans: PlanStore;
  /** Activity events (target `activities`); absent: that target is skipped, saying so. */
  readonly activities?: Pick<ActivityStore, 'backend' | 'dayCounts' | 'retireDay'>;
  /** The activity archive ledger the activities target checks each day against. */
  readonly activityLedger?: Pick<ActivityArchiveLedger, 'latestGenerations' | 'markDropped'>;
  /** Seed 002's hot records and their index (target `records`); absent: that target is skipped. */
  readonly records?: RecordRetentionDeps;
  /** Detections (target `detections`); absent: that target is skipped, saying so. */
  readonly detections?: Pick<PostgresDetectionRetention, 'summary' | 'deleteBatch'>;
}

/** The plan store as retention uses it. */
export type PlanStore = Pick<
  MaintenancePlanStore,
  'create' | 'approve' | 'startExecution' | 'listItems' | 'settle' | 'outcomeCounts' | 'finish'
>;

type Payload = PayloadOf<typeof retentionCleanupJob>;

/** The windows and mode of one pass over the targets (a plan's, or its execution's). */
export interface RunWindows {
  dry_run: boolean;
  hot_days: number;
  sample_days: number;
  activity_days: number;
  detection_days: number;
}

/** What a retention plan records as its parameters (and digests). */
interface RetentionPlanParameters {
  job: 'retention.cleanup';
  as_of: string;
  targets: RetentionTarget[];
  hot_days: number;
  sample_days: number;
  activity_days: number;
  detection_days: number;
  archive_required: boolean;
  hot_backend: string;
}

/**
 * Plan, approve, execute. A run without `plan_id` first stores its plan (the hot target unit
 * by unit, the others as "unplanned (executes live)"); dry, that plan and its report are the
 * answer; otherwise, with RETENTION_APPROVAL=auto, it approves its own plan and executes it,
 * with `manual` it stops there. A run with `plan_id` executes that approved plan: only its
 * units, each only in the state planned. The execution's report is the job's return value
 * and is stored with the plan; executing an executed plan again returns that report.
 */
export function createRetentionCleanupHandler(
  deps: RetentionCleanupDeps,
): Handler<typeof retentionCleanupJob> {
  return async (payload, ctx) => {
    if (payload.plan_id !== undefined) return executePlan(deps, payload.plan_id, ctx);
    const plan = await makePlan(deps, payload, ctx);
    const summary = plan.summary as unknown as RetentionReport;
    if (payload.dry_run || deps.settings.approval === 'manual') {
      const report: RetentionReport = { ...summary, plan: planRef(plan) };
      if (!payload.dry_run) {
        ctx.log.info(
          { plan: report.plan },
          'retention planned; RETENTION_APPROVAL=manual: nothing is deleted until an admin approves the plan',
        );
      }
      await ctx.progress({ percent: 100 });
      return report;
    }
    const approval = await deps.plans.approve(plan.id, {
      digest: plan.digest,
      by: 'auto (RETENTION_APPROVAL=auto)',
      maxAgeMs: deps.settings.planMaxAgeMs,
    });
    if (approval.outcome !== 'approved') {
      throw new PermanentError('conflict', `plan ${plan.id} could not be approved`, {
        plan_id: plan.id,
        outcome: approval.outcome,
      });
    }
    return executePlan(deps, plan.id, ctx);
  };
}

/** A plan as a report names it. */
function planRef(plan: MaintenancePlan): RetentionPlanRef {
  return {
    id: plan.id,
    digest: plan.digest,
    status: plan.status,
    counts: plan.counts,
    unplanned: Object.fromEntries(plan.unplanned.map((t) => [t, UNPLANNED])),
  };
}

/** Stores the plan of a run: parameters, the hot units, the dry-run report of every target. */
async function makePlan(
  deps: RetentionCleanupDeps,
  payload: Payload,
  ctx: JobContext,
): Promise<MaintenancePlan> {
  const asOf = new Date();
  const { settings } = deps;
  const windows: RunWindows = {
    dry_run: true,
    hot_days: payload.hot_days ?? settings.hotRetentionDays,
    sample_days: payload.sample_days ?? settings.sampleRetentionDays,
    activity_days: payload.activity_days ?? settings.activityRetentionDays,
    detection_days: payload.detection_days ?? settings.detectionRetentionDays,
  };
  const parameters: RetentionPlanParameters = {
    job: 'retention.cleanup',
    as_of: asOf.toISOString(),
    targets: payload.targets,
    hot_days: windows.hot_days,
    sample_days: windows.sample_days,
    activity_days: windows.activity_days,
    detection_days: windows.detection_days,
    archive_required: settings.archiveEnabled,
    hot_backend: deps.hotRetention.backend,
  };
  const unplanned = payload.targets.filter((t) => t !== 'hot');
  const plan = await deps.plans.create(
    {
      job: 'retention.cleanup',
      parameters: { ...parameters },
      unplanned,
      planned_by: ctx.meta.enqueued_by
        ? `${ctx.meta.enqueued_by} (job ${ctx.jobId})`
        : `job ${ctx.jobId}`,
    },
    async (add) => {
      const digest = new PlanDigest({ ...parameters });
      const report: RetentionReport = { dry_run: true, as_of: parameters.as_of, targets: {} };
      const counts: Record<string, number> = {};
      const stages = payload.targets.length;
      for (const [index, target] of payload.targets.entries()) {
        const progress = stageProgress(ctx, target, index, stages);
        if (target === 'hot') {
          report.targets.hot = await planHot(deps, asOf, windows.hot_days, async (items) => {
            for (const item of items) digest.add(item);
            await add(items);
          });
          counts.hot = report.targets.hot.rows;
        } else {
          await runLiveTarget(deps, target, windows, asOf, ctx, progress, report);
        }
        ctx.note(targetNote('planned', target, report));
      }
      return { digest: digest.hex(), counts, summary: { ...report } };
    },
  );
  ctx.log.info(
    { plan_id: plan.id, digest: plan.digest, counts: plan.counts, unplanned },
    'retention plan stored',
  );
  ctx.note(`plan ${plan.id} stored (digest ${plan.digest}): ${JSON.stringify(plan.counts)}`);
  return plan;
}

/**
 * Executes an approved plan (resumes an executing one): the hot units still in their planned
 * state are deleted, batch by batch, each batch's outcomes stored before the next; the
 * unplanned targets run live with the plan's windows and "now". Refuses a plan that is not
 * approved; an executed plan is not executed again (its report is returned).
 */
async function executePlan(
  deps: RetentionCleanupDeps,
  id: string,
  ctx: JobContext,
): Promise<RetentionReport> {
  const plan = await deps.plans.startExecution(id);
  if (plan === undefined) {
    throw new PermanentError('not_found', `no maintenance plan ${id}`, { plan_id: id });
  }
  if (plan.status === 'executed' && plan.report !== null) {
    ctx.log.info({ plan_id: id }, 'retention plan already executed: nothing to do');
    await ctx.progress({ percent: 100 });
    return plan.report as unknown as RetentionReport;
  }
  const parameters = plan.parameters as unknown as RetentionPlanParameters;
  if (plan.job !== 'retention.cleanup' || plan.status !== 'executing') {
    throw new PermanentError(
      'conflict',
      `plan ${id} is ${plan.status}${plan.job === 'retention.cleanup' ? '' : ` (${plan.job})`}, not approved: nothing deleted`,
      { plan_id: id, status: plan.status },
    );
  }
  if (parameters.hot_backend !== deps.hotRetention.backend) {
    throw new PermanentError(
      'conflict',
      `plan ${id} lists ${parameters.hot_backend} rows; this worker's hot store is ${deps.hotRetention.backend}`,
      { plan_id: id },
    );
  }
  const summary = plan.summary as unknown as RetentionReport;
  const asOf = new Date(parameters.as_of);
  const windows: RunWindows = {
    dry_run: false,
    hot_days: parameters.hot_days,
    sample_days: parameters.sample_days,
    activity_days: parameters.activity_days,
    detection_days: parameters.detection_days,
  };
  const report: RetentionReport = {
    dry_run: false,
    as_of: parameters.as_of,
    targets: {},
    plan: { ...planRef(plan), status: 'executed' },
  };
  const stages = parameters.targets.length;
  for (const [index, target] of parameters.targets.entries()) {
    const progress = stageProgress(ctx, target, index, stages);
    if (target === 'hot' && summary.targets.hot !== undefined) {
      report.targets.hot = await executeHot(
        { plans: deps.plans, hotRetention: deps.hotRetention, batchSize: deps.settings.batchSize },
        plan,
        summary.targets.hot,
        ctx,
        progress,
      );
    } else {
      await runLiveTarget(deps, target, windows, asOf, ctx, progress, report);
    }
    ctx.note(targetNote(`plan ${id} executed`, target, report));
  }
  await deps.plans.finish(id, { ...report });
  await ctx.progress({ percent: 100 });
  ctx.log.info({ report }, 'retention finished');
  return report;
}

/** Runs one target that is not plan-based yet, as it always ran: its own checks, live. */
async function runLiveTarget(
  deps: RetentionCleanupDeps,
  target: Exclude<RetentionTarget, 'hot'> | 'hot',
  windows: RunWindows,
  asOf: Date,
  ctx: JobContext,
  progress: Progress,
  report: RetentionReport,
): Promise<void> {
  if (target === 'records') {
    const cutoff = new Date(asOf.getTime() - windows.hot_days * UTC_DAY_MS);
    const options = { cutoff, batchSize: deps.settings.batchSize, dryRun: windows.dry_run };
    report.targets.records = await cleanRecords(deps.records, options, ctx, progress);
  } else if (target === 'detections') {
    const options = {
      cutoffDay: utcDayOf(new Date(asOf.getTime() - windows.detection_days * UTC_DAY_MS)),
      archiveRequired: deps.settings.archiveEnabled,
      batchSize: deps.settings.batchSize,
      dryRun: windows.dry_run,
    };
    report.targets.detections = await cleanDetections(deps.detections, options, ctx, progress);
  } else if (target === 'activities') {
    report.targets.activities = await cleanActivities(deps, windows, ctx, asOf, progress);
  } else if (target === 'samples') {
    report.targets.samples = await cleanSamples(deps, windows, ctx, asOf, progress);
  }
}

/** The job log's line about one target's outcome (ctx.note): what its report says. */
function targetNote(pass: string, target: RetentionTarget, report: RetentionReport): string {
  const outcome = report.targets[target];
  return `${pass}, target ${target}: ${outcome === undefined ? 'nothing to do' : JSON.stringify(outcome)}`;
}

/** Each target gets an equal share of the progress bar. */
function stageProgress(ctx: JobContext, target: string, index: number, stages: number): Progress {
  return (fraction, detail) =>
    ctx.progress({
      percent: Math.round(((index + Math.min(1, fraction)) / stages) * 100),
      target,
      ...detail,
    });
}

type Progress = (fraction: number, detail: Record<string, unknown>) => Promise<void>;

/**
 * Lists the hot indicators past the window that may go now (archived as they are, when
 * archiving is on) into the plan, page by page, each with its state; returns the target's
 * dry-run report.
 */
async function planHot(
  deps: RetentionCleanupDeps,
  asOf: Date,
  days: number,
  add: (items: PlanItem[]) => Promise<void>,
): Promise<HotRetentionReport> {
  const { settings, hotRetention } = deps;
  const cutoff = new Date(asOf.getTime() - days * UTC_DAY_MS);
  // With archiving on, a row may go only when its day's newest archive generation holds it
  // at its current version: rows of days not in the ledger are blocked, rows that arrived
  // or changed after the archive are kept (the next archive.lock writes them). Without
  // archiving every row past the cutoff may go.
  const bounds = settings.archiveEnabled
    ? await archiveBounds(deps, hotRetention, cutoff)
    : undefined;
  const kept = summarizeRetentionDays(await hotRetention.daysBefore(cutoff, bounds), bounds);
  const page = Math.max(settings.batchSize, 1_000);
  let rows = 0;
  let oldest: Date | null = null;
  let newest: Date | null = null;
  let after: PlannedIndicator | undefined;
  for (;;) {
    const indicators = await hotRetention.planPage(cutoff, bounds, page, after);
    if (indicators.length === 0) break;
    await add(
      indicators.map((i) => ({
        target: 'hot',
        unit: iocUnit(i.type, i.value),
        state: i.state,
        at: i.lastSeen,
      })),
    );
    rows += indicators.length;
    for (const i of indicators) {
      if (oldest === null || i.lastSeen < oldest) oldest = i.lastSeen;
      if (newest === null || i.lastSeen > newest) newest = i.lastSeen;
    }
    if (indicators.length < page) break;
    after = indicators.at(-1);
  }
  return {
    rows,
    oldest: oldest?.toISOString() ?? null,
    newest: newest?.toISOString() ?? null,
    blocked_unarchived_rows: kept.blocked_unarchived_rows,
    kept_changed_since_archive: kept.kept_changed_since_archive,
    cutoff: cutoff.toISOString(),
    batches: Math.ceil(rows / settings.batchSize),
    archive_required: settings.archiveEnabled,
    planned: rows,
    drifted: 0,
    gone: 0,
  };
}

/**
 * The high-water mark of the newest generation of every archived day with rows past the
 * cutoff; null for a generation that vouches for no row version of this backend.
 */
async function archiveBounds(
  deps: RetentionCleanupDeps,
  hotRetention: HotRetention,
  cutoff: Date,
): Promise<ArchiveBounds> {
  const days = await hotRetention.daysBefore(cutoff, new Map());
  const first = days[0];
  const last = days.at(-1);
  if (!first || !last) return new Map();
  const latest = await deps.archiveLedger.latestGenerations(
    new Date(utcDayNumberOf(first.day) * UTC_DAY_MS),
    // The day after the last: covers the last day whether the ledger's `to` is inclusive
    // or exclusive; an extra day there has no rows before the cutoff.
    new Date((utcDayNumberOf(last.day) + 1) * UTC_DAY_MS),
  );
  return new Map(
    [...latest].map(([day, g]) => [day, g.backend === hotRetention.backend ? g.high_water : null]),
  );
}

async function cleanSamples(
  deps: RetentionCleanupDeps,
  payload: RunWindows,
  ctx: JobContext,
  asOf: Date,
  progress: Progress,
): Promise<SampleRetentionReport> {
  const { settings } = deps;
  const empty = { objects: 0, bytes: 0, oldest: null, newest: null, protected: 0, batches: 0 };
  if (!settings.sampleRetentionEnabled) {
    return {
      ...empty,
      cutoff: null,
      bucket: deps.sampleRetention.bucket,
      skipped: 'SAMPLE_RETENTION_ENABLED is false',
    };
  }
  const sampleRetention = deps.sampleRetention;
  const cutoff = new Date(asOf.getTime() - payload.sample_days * UTC_DAY_MS);
  let objects = 0;
  const { bucket_missing, ...result } = await sampleRetention.run({
    cutoff,
    dryRun: payload.dry_run,
    batchSize: settings.batchSize,
    signal: ctx.signal,
    onProtected: (key, reason) => {
      ctx.log.info({ target: 'samples', key, reason }, 'sample kept: protected');
    },
    onBatch: async (batch) => {
      objects += batch.objects;
      ctx.log.info(
        {
          target: 'samples',
          batch: batch.no,
          count: batch.objects,
          bytes: batch.bytes,
          dry_run: payload.dry_run,
        },
        payload.dry_run ? 'retention batch (dry run, nothing deleted)' : 'retention batch deleted',
      );
      // The total is unknown while listing; the bar moves to the middle of the stage.
      await progress(0.5, { batch: batch.no, deleted: payload.dry_run ? 0 : objects });
    },
  });
  const report: SampleRetentionReport = {
    ...result,
    cutoff: cutoff.toISOString(),
    bucket: sampleRetention.bucket,
  };
  if (bucket_missing) report.skipped = `bucket ${sampleRetention.bucket} does not exist`;
  return report;
}

/** What retention does with one activity day past the window. */
type ActivityDayPlan =
  | { day: string; rows: number; action: 'drop'; generation: number | null }
  | { day: string; rows: number; action: 'blocked' | 'changed' };

/**
 * Drops whole activity day partitions past the window. While archiving is on, a day goes
 * only when its newest archive generation holds every event the partition holds: the
 * store counts the partition again under a lock that keeps inserts into the day out, and
 * drops it only when the count is still the one planned (the events, append-only, are then
 * exactly those planned, all archived). The generation is marked dropped first, so events
 * arriving later are archived as a generation of their own.
 */
async function cleanActivities(
  deps: RetentionCleanupDeps,
  payload: RunWindows,
  ctx: JobContext,
  asOf: Date,
  progress: Progress,
): Promise<ActivityRetentionReport> {
  const { settings, activities, activityLedger } = deps;
  const days = payload.activity_days;
  const cutoffDay = utcDayOf(new Date(asOf.getTime() - days * UTC_DAY_MS));
  const base = { cutoff_day: cutoffDay, archive_required: settings.archiveEnabled };
  const empty = { days: [], rows: 0, blocked_unarchived: [], kept_changed_since_archive: [] };
  if (activities === undefined || activityLedger === undefined) {
    return { ...empty, ...base, skipped: 'no activity store in this worker' };
  }
  const candidates = await activities.dayCounts(cutoffDay);
  const first = candidates[0];
  const last = candidates.at(-1);
  const latest =
    settings.archiveEnabled && first && last
      ? await activityLedger.latestGenerations(first.day, last.day)
      : new Map<string, never>();
  const plan: ActivityDayPlan[] = candidates.map(({ day, rows }) => {
    if (!settings.archiveEnabled || rows === 0) {
      return { day, rows, action: 'drop', generation: null };
    }
    const generation = latest.get(day);
    if (
      generation === undefined ||
      generation.dropped ||
      generation.backend !== activities.backend
    ) {
      return { day, rows, action: 'blocked' };
    }
    // A generation holds a subset of the partition it was read from: as many events or more
    // means the partition holds nothing else.
    return rows <= generation.rows
      ? { day, rows, action: 'drop', generation: generation.generation }
      : { day, rows, action: 'changed' };
  });
  const only = (action: ActivityDayPlan['action']): ActivityRetentionDay[] =>
    plan.filter((p) => p.action === action).map(({ day, rows }) => ({ day, rows }));
  const report: ActivityRetentionReport = {
    days: [],
    rows: 0,
    blocked_unarchived: only('blocked'),
    kept_changed_since_archive: only('changed'),
    ...base,
  };
  const drops = plan.filter((p) => p.action === 'drop');
  if (payload.dry_run) {
    report.days = drops.map(({ day, rows }) => ({ day, rows }));
    report.rows = drops.reduce((sum, d) => sum + d.rows, 0);
  } else {
    for (const [index, planned] of drops.entries()) {
      ctx.signal.throwIfAborted();
      if (planned.action !== 'drop') continue;
      const { generation } = planned;
      const retired = await activities.retireDay(
        planned.day,
        settings.archiveEnabled ? planned.rows : null,
        async () => {
          if (generation !== null) await activityLedger.markDropped(planned.day, generation);
        },
      );
      if (retired.dropped) {
        report.days.push({ day: retired.day, rows: retired.rows });
        report.rows += retired.rows;
        ctx.log.info(
          { target: 'activities', day: retired.day, rows: retired.rows, generation },
          'activity day partition dropped',
        );
      } else if (retired.rows > 0) {
        // An event arrived since the plan: kept until the next archive holds it.
        report.kept_changed_since_archive.push({ day: retired.day, rows: retired.rows });
      }
      await progress((index + 1) / drops.length, { day: planned.day, dropped: report.days.length });
    }
  }
  const kept = report.blocked_unarchived.length + report.kept_changed_since_archive.length;
  if (kept > 0) {
    ctx.log.warn(
      {
        target: 'activities',
        blocked_unarchived: report.blocked_unarchived.map((d) => d.day),
        kept_changed_since_archive: report.kept_changed_since_archive.map((d) => d.day),
      },
      'activity days past the window kept: no archive holds them as they are',
    );
  }
  return report;
}
