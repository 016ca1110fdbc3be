import type { Config } from '../../src/config.js';
import {
  DAY_MS,
  dayNumberOf,
  summarizeRetentionDays,
  widen,
  type HotRetention,
} from '../../src/stores/hot-retention.js';
import type { SampleRetention } from '../../src/stores/sample-retention.js';
import type { Handler, JobContext, PayloadOf } from '../job-definition.js';
import type { retentionCleanupJob } from './definition.js';
import type { HotRetentionReport, RetentionReport, SampleRetentionReport } from './report.js';

/** The archive ledger as retention reads it: the UTC days ('YYYY-MM-DD') archived in [from, to]. */
export interface ArchivedDaysReader {
  /** Rows archived per day ('YYYY-MM-DD') for the days overlapping [from, to). */
  archivedRows(from: Date, to: Date): Promise<Map<string, number>>;
}

/** The settings retention.cleanup reads. */
export type RetentionSettings = Pick<
  Config,
  | 'ARCHIVE_ENABLED'
  | 'HOT_RETENTION_DAYS'
  | 'SAMPLE_RETENTION_ENABLED'
  | 'SAMPLE_RETENTION_DAYS'
  | 'RETENTION_BATCH_SIZE'
>;

/**
 * What retention.cleanup needs. Read when a job runs, not when the handler is built, so
 * getters stay lazy: a worker that never runs retention never opens these clients.
 */
export interface RetentionCleanupDeps {
  readonly config: RetentionSettings;
  readonly hotRetention: HotRetention;
  readonly archiveLedger: ArchivedDaysReader;
  readonly sampleRetention: SampleRetention;
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
      if (target === 'hot') {
        report.targets.hot = await cleanHot(deps, payload, ctx, asOf, progress);
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
  const { config, hotRetention } = deps;
  const batchSize = config.RETENTION_BATCH_SIZE;
  const cutoff = new Date(
    asOf.getTime() - (payload.hot_days ?? config.HOT_RETENTION_DAYS) * DAY_MS,
  );
  const days = await hotRetention.daysBefore(cutoff);

  // With archiving on, a day may go only once the ledger has it: rows of other days stay
  // and are reported as blocked. Without archiving every day past the cutoff may go.
  let allowed: Set<string> | undefined;
  if (config.ARCHIVE_ENABLED) {
    const first = days[0];
    const last = days.at(-1);
    const archived =
      first && last
        ? await deps.archiveLedger.archivedRows(
            new Date(dayNumberOf(first.day) * DAY_MS),
            // The day after the last: covers the last day whether the ledger's `to` is
            // inclusive or exclusive; an extra day there has no rows before the cutoff.
            new Date((dayNumberOf(last.day) + 1) * DAY_MS),
          )
        : new Map<string, number>();
    // A day holding more rows now than were archived got late rows after its archive:
    // deleting it would lose rows no archive holds, so it waits (blocked) until re-archived.
    allowed = new Set(days.filter((d) => d.rows <= (archived.get(d.day) ?? -1)).map((d) => d.day));
  }
  const plan = summarizeRetentionDays(days, allowed);
  const base = {
    blocked_unarchived_rows: plan.blocked_unarchived_rows,
    cutoff: cutoff.toISOString(),
    archive_required: config.ARCHIVE_ENABLED,
  };
  if (plan.blocked_unarchived_rows > 0) {
    ctx.log.warn(
      {
        target: 'hot',
        blocked_unarchived_rows: plan.blocked_unarchived_rows,
        days: days.filter((d) => !allowed?.has(d.day)).map((d) => d.day),
      },
      'hot-store rows past the window kept: their days are not in the archive ledger',
    );
  }
  if (payload.dry_run) {
    return { ...plan, ...base, batches: Math.ceil(plan.rows / batchSize) };
  }

  let rows = 0;
  let batches = 0;
  let range: { oldest: Date | null; newest: Date | null } = { oldest: null, newest: null };
  while (plan.rows > 0) {
    ctx.signal.throwIfAborted();
    const batch = await hotRetention.deleteBatch(cutoff, allowed, batchSize);
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
  return {
    rows,
    oldest: range.oldest?.toISOString() ?? null,
    newest: range.newest?.toISOString() ?? null,
    ...base,
    batches,
  };
}

async function cleanSamples(
  deps: RetentionCleanupDeps,
  payload: Payload,
  ctx: JobContext,
  asOf: Date,
  progress: Progress,
): Promise<SampleRetentionReport> {
  const { config } = deps;
  const empty = { objects: 0, bytes: 0, oldest: null, newest: null, protected: 0, batches: 0 };
  if (!config.SAMPLE_RETENTION_ENABLED) {
    return {
      ...empty,
      cutoff: null,
      bucket: deps.sampleRetention.bucket,
      skipped: 'SAMPLE_RETENTION_ENABLED is false',
    };
  }
  const sampleRetention = deps.sampleRetention;
  const cutoff = new Date(
    asOf.getTime() - (payload.sample_days ?? config.SAMPLE_RETENTION_DAYS) * DAY_MS,
  );
  let objects = 0;
  const { bucket_missing, ...result } = await sampleRetention.run({
    cutoff,
    dryRun: payload.dry_run,
    batchSize: config.RETENTION_BATCH_SIZE,
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
