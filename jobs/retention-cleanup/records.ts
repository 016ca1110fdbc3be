import type { RecordPosition, RecordStore } from '../../src/stores/hot/record-store.js';
import type { RecordIndex } from '../../src/stores/postgres/record-index.js';
import type { JobContext } from '../job-definition.js';

/** The record part of a retention report (seed 002's cleanup_expired_records). */
export interface RecordRetentionReport {
  /** Hot records deleted (dry: deletable). */
  rows: number;
  /** ISO 8601 timestamps of the oldest and newest of them; null when there are none. */
  oldest: string | null;
  newest: string | null;
  /** Records past the cutoff kept because the record index has no row for them. */
  kept_unindexed: number;
  /** ISO 8601: records with a timestamp before this were candidates. */
  cutoff: string;
  /** Deletion batches run (dry: pages that would be deleted). */
  batches: number;
  /** Why nothing was looked at, when nothing was. */
  skipped?: string;
}

/** What record retention reads and deletes. */
export interface RecordRetentionDeps {
  readonly records: Pick<RecordStore, 'expired' | 'delete'>;
  readonly index: Pick<RecordIndex, 'indexed'>;
}

/**
 * Deletes hot records whose timestamp is before `cutoff` and that the record index holds
 * (archived by construction: the index row is written after the locked object and before the
 * hot row), a page of `batchSize` at a time, oldest first, each batch logged. Dry: counts
 * the same. Idempotent: a rerun finds only what is left; the archive copy stays readable.
 */
export async function cleanRecords(
  deps: RecordRetentionDeps | undefined,
  options: { cutoff: Date; batchSize: number; dryRun: boolean },
  ctx: Pick<JobContext, 'log' | 'signal' | 'metrics'>,
  progress: (fraction: number, detail: Record<string, unknown>) => Promise<void>,
): Promise<RecordRetentionReport> {
  const { cutoff, batchSize, dryRun } = options;
  const report: RecordRetentionReport = {
    rows: 0,
    oldest: null,
    newest: null,
    kept_unindexed: 0,
    cutoff: cutoff.toISOString(),
    batches: 0,
  };
  if (deps === undefined) return { ...report, skipped: 'no record store in this process' };
  let after: RecordPosition | undefined;
  for (;;) {
    ctx.signal.throwIfAborted();
    const page = await deps.records.expired(cutoff, batchSize, after);
    const last = page.at(-1);
    if (last === undefined) break;
    const indexed = await deps.index.indexed(page.map((r) => r.id));
    const deletable = page.filter((r) => indexed.has(r.id));
    report.kept_unindexed += page.length - deletable.length;
    if (deletable.length > 0) {
      const deleted = dryRun
        ? deletable.length
        : await deps.records.delete(deletable.map((r) => r.id));
      report.batches += 1;
      report.rows += deleted;
      report.oldest ??= deletable[0]?.timestamp ?? null;
      report.newest = deletable.at(-1)?.timestamp ?? report.newest;
      if (!dryRun) ctx.metrics.rowsDeleted(deleted);
      ctx.log.info(
        {
          target: 'records',
          batch: report.batches,
          count: deleted,
          deleted: report.rows,
          dry_run: dryRun,
        },
        dryRun ? 'retention batch (dry run, nothing deleted)' : 'retention batch deleted',
      );
      await progress(0.5, { batch: report.batches, deleted: dryRun ? 0 : report.rows });
    }
    // A short page means nothing was left to select.
    if (page.length < batchSize) break;
    after = last;
  }
  if (report.kept_unindexed > 0) {
    ctx.log.warn(
      { target: 'records', kept_unindexed: report.kept_unindexed },
      'hot records past the window kept: the record index has no row for them',
    );
  }
  return report;
}
