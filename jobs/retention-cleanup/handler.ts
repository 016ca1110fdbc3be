import { UTC_DAY_MS, utcDayNumberOf, utcDayOf } from '../../src/domain/utc-day.js';
import type { ActivityStore } from '../../src/stores/hot/activity-store.js';
import type { ActivityArchiveLedger } from '../../src/stores/postgres/activity-archive-ledger.js';
import type { LatestGeneration } from '../../src/stores/postgres/archive-ledger.js';
import {
  summarizeRetentionDays,
  widen,
  type ArchiveBounds,
  type HotRetention,
} from '../../src/stores/hot/hot-retention.js';
import type { SampleRetention } from '../../src/stores/s3/sample-retention.js';
import type { Handler, JobContext, PayloadOf } from '../job-definition.js';
import type { retentionCleanupJob } from './definition.js';
import type {
  ActivityRetentionDay,
  ActivityRetentionReport,
  HotRetentionReport,
  RetentionReport,
  SampleRetentionReport,
} from './report.js';
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
}

/** What retention.cleanup needs. */
export interface RetentionCleanupDeps {
  readonly settings: RetentionSettings;
  readonly hotRetention: HotRetention;
  readonly archiveLedger: ArchivedDaysReader;
  readonly sampleRetention: SampleRetention;
  /** Activity events (target `activities`); absent: that target is skipped, saying so. */
  readonly activities?: Pick<ActivityStore, 'backend' | 'dayCounts' | 'retireDay'>;
  /** The activity archive ledger the activities target checks each day against. */
  readonly activityLedger?: Pick<ActivityArchiveLedger, 'latestGenerations' | 'markDropped'>;
  /** Seed 002's hot records and their index (target `records`); absent: that target is skipped. */
  readonly records?: RecordRetentionDeps;
  /** Detections (target `detections`); absent: that target is skipped, saying so. */
  readonly detections?: Pick<PostgresDetectionRetention, 'summary' | 'deleteBatch'>;
}

type Payload = PayloadOf<typeof retentionCleanupJob>;

/**
 * Deletes what is past the hot and sample windows (or, dry, reports it), target by target,
 * in batches of RETENTION_BATCH_SIZE, each logged. Idempotent: a rerun finds only what is
 * left. The report is the job's return value.
 */
export function createRetentionCleanupHandler(
  deps: RetentionCleanupDeps,
): Handler<typeof retentionCleanupJob> {
  return async (payload, ctx) => {
    const asOf = new Date();
    const report: RetentionReport = {
      dry_run: payload.dry_run,
      as_of: asOf.toISOString(),
      targets: {},
    };
    const stages = payload.targets.length;
    for (const [index, target] of payload.targets.entries()) {
      // Each target gets an equal share of the progress bar.
      const progress = (fraction: number, detail: Record<string, unknown>) =>
        ctx.progress({
          percent: Math.round(((index + Math.min(1, fraction)) / stages) * 100),
          target,
          ...detail,
        });
      if (target === 'records') {
        const days = payload.hot_days ?? deps.settings.hotRetentionDays;
        const cutoff = new Date(asOf.getTime() - days * UTC_DAY_MS);
        const options = { cutoff, batchSize: deps.settings.batchSize, dryRun: payload.dry_run };
        report.targets.records = await cleanRecords(deps.records, options, ctx, progress);
      } else if (target === 'detections') {
        const days = payload.detection_days ?? deps.settings.detectionRetentionDays;
        const options = {
          cutoffDay: utcDayOf(new Date(asOf.getTime() - days * UTC_DAY_MS)),
          archiveRequired: deps.settings.archiveEnabled,
          batchSize: deps.settings.batchSize,
          dryRun: payload.dry_run,
        };
        report.targets.detections = await cleanDetections(deps.detections, options, ctx, progress);
      } else if (target === 'hot') {
        report.targets.hot = await cleanHot(deps, payload, ctx, asOf, progress);
      } else if (target === 'activities') {
        report.targets.activities = await cleanActivities(deps, payload, ctx, asOf, progress);
      } else {
        report.targets.samples = await cleanSamples(deps, payload, ctx, asOf, progress);
      }
    }
    await ctx.progress({ percent: 100 });
    ctx.log.info({ report }, payload.dry_run ? 'retention dry run finished' : 'retention finished');
    return report;
  };
}

type Progress = (fraction: number, detail: Record<string, unknown>) => Promise<void>;

async function cleanHot(
  deps: RetentionCleanupDeps,
  payload: Payload,
  ctx: JobContext,
  asOf: Date,
  progress: Progress,
): Promise<HotRetentionReport> {
  const { settings, hotRetention } = deps;
  const batchSize = settings.batchSize;
  const cutoff = new Date(
    asOf.getTime() - (payload.hot_days ?? settings.hotRetentionDays) * UTC_DAY_MS,
  );
  // With archiving on, a row may go only when its day's newest archive generation holds it
  // at its current version: rows of days not in the ledger are blocked, rows that arrived
  // or changed after the archive are kept (the next archive.lock writes them). Without
  // archiving every row past the cutoff may go.
  const bounds = settings.archiveEnabled
    ? await archiveBounds(deps, hotRetention, cutoff)
    : undefined;
  const plan = summarizeRetentionDays(await hotRetention.daysBefore(cutoff, bounds), bounds);
  const base = {
    cutoff: cutoff.toISOString(),
    archive_required: settings.archiveEnabled,
  };
  const warnKept = (kept: {
    blocked_unarchived_rows: number;
    kept_changed_since_archive: number;
  }) => {
    if (kept.blocked_unarchived_rows + kept.kept_changed_since_archive === 0) return;
    ctx.log.warn(
      { target: 'hot', ...kept },
      'hot-store rows past the window kept: no archive holds them as they are',
    );
  };
  if (payload.dry_run) {
    warnKept(plan);
    return { ...plan, ...base, batches: Math.ceil(plan.rows / batchSize) };
  }

  let rows = 0;
  let batches = 0;
  let range: { oldest: Date | null; newest: Date | null } = { oldest: null, newest: null };
  while (plan.rows > 0) {
    ctx.signal.throwIfAborted();
    const batch = await hotRetention.deleteBatch(cutoff, bounds, batchSize);
    if (batch.rows === 0) break;
    batches += 1;
    rows += batch.rows;
    ctx.metrics.rowsDeleted(batch.rows);
    range = widen(range, batch);
    ctx.log.info(
      { target: 'hot', batch: batches, count: batch.rows, deleted: rows, planned: plan.rows },
      'retention batch deleted',
    );
    await progress(rows / plan.rows, { batch: batches, deleted: rows, planned: plan.rows });
    // A short batch means nothing was left to select.
    if (batch.rows < batchSize) break;
  }
  // What stayed behind, counted again after the deletes: a row that changed while the run
  // went on was kept, and is counted as kept, not as planned.
  const left =
    rows === plan.rows
      ? plan
      : summarizeRetentionDays(await hotRetention.daysBefore(cutoff, bounds), bounds);
  const kept = {
    blocked_unarchived_rows: left.blocked_unarchived_rows,
    // Still deletable now means it became so during the run: kept all the same.
    kept_changed_since_archive: left.kept_changed_since_archive + (left === plan ? 0 : left.rows),
  };
  warnKept(kept);
  return {
    rows,
    oldest: range.oldest?.toISOString() ?? null,
    newest: range.newest?.toISOString() ?? null,
    ...kept,
    ...base,
    batches,
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
  payload: Payload,
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
  const cutoff = new Date(
    asOf.getTime() - (payload.sample_days ?? settings.sampleRetentionDays) * UTC_DAY_MS,
  );
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
  payload: Payload,
  ctx: JobContext,
  asOf: Date,
  progress: Progress,
): Promise<ActivityRetentionReport> {
  const { settings, activities, activityLedger } = deps;
  const days = payload.activity_days ?? settings.activityRetentionDays;
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
