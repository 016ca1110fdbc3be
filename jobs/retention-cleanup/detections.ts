import { utcDayWindow } from '../../src/domain/utc-day.js';
import type { PostgresDetectionRetention } from '../../src/stores/postgres/detection-retention.js';
import type { JobContext } from '../job-definition.js';
import type { DetectionRetentionReport } from './report.js';

/**
 * Deletes terminal detections of days before `cutoffDay` (with their status history), a
 * batch of `batchSize` at a time, oldest first, each batch logged. Open detections (New,
 * Investigating, Escalated) stay whatever their age. With `archiveRequired` a detection goes
 * only while its day's newest archive generation holds it at its current version, which the
 * DELETE checks itself. Dry: the same report, nothing deleted. Idempotent.
 */
export async function cleanDetections(
  detections: Pick<PostgresDetectionRetention, 'summary' | 'deleteBatch'> | undefined,
  options: { cutoffDay: string; archiveRequired: boolean; batchSize: number; dryRun: boolean },
  ctx: Pick<JobContext, 'log' | 'signal' | 'metrics'>,
  progress: (fraction: number, detail: Record<string, unknown>) => Promise<void>,
): Promise<DetectionRetentionReport> {
  const { cutoffDay, archiveRequired, batchSize, dryRun } = options;
  const base = { cutoff_day: cutoffDay, archive_required: archiveRequired };
  if (detections === undefined) {
    return {
      rows: 0,
      oldest: null,
      newest: null,
      kept_open: 0,
      blocked_unarchived: 0,
      kept_changed_since_archive: 0,
      batches: 0,
      ...base,
      skipped: 'no detection store in this process',
    };
  }
  const cutoff = utcDayWindow(cutoffDay).start;
  const plan = await detections.summary(cutoff, archiveRequired);
  const warnKept = (kept: { blocked_unarchived: number; kept_changed_since_archive: number }) => {
    if (kept.blocked_unarchived + kept.kept_changed_since_archive === 0) return;
    ctx.log.warn(
      { target: 'detections', ...kept },
      'terminal detections past the window kept: no archive holds them as they are',
    );
  };
  if (dryRun) {
    warnKept(plan);
    return {
      rows: plan.deletable,
      oldest: plan.oldest?.toISOString() ?? null,
      newest: plan.newest?.toISOString() ?? null,
      kept_open: plan.kept_open,
      blocked_unarchived: plan.blocked_unarchived,
      kept_changed_since_archive: plan.kept_changed_since_archive,
      batches: Math.ceil(plan.deletable / batchSize),
      ...base,
    };
  }

  let rows = 0;
  let batches = 0;
  let oldest: Date | null = null;
  let newest: Date | null = null;
  while (plan.deletable > 0) {
    ctx.signal.throwIfAborted();
    const batch = await detections.deleteBatch(cutoff, archiveRequired, batchSize);
    if (batch.rows === 0) break;
    batches += 1;
    rows += batch.rows;
    ctx.metrics.rowsDeleted(batch.rows);
    if (batch.oldest && (oldest === null || batch.oldest < oldest)) oldest = batch.oldest;
    if (batch.newest && (newest === null || batch.newest > newest)) newest = batch.newest;
    ctx.log.info(
      {
        target: 'detections',
        batch: batches,
        count: batch.rows,
        deleted: rows,
        planned: plan.deletable,
      },
      'retention batch deleted',
    );
    await progress(rows / plan.deletable, { batch: batches, deleted: rows });
    // A short batch means nothing was left to select.
    if (batch.rows < batchSize) break;
  }
  // Counted again after the deletes: a detection that changed while the run went on was kept
  // and is reported as kept, not as planned.
  const left = rows === plan.deletable ? plan : await detections.summary(cutoff, archiveRequired);
  const kept = {
    kept_open: left.kept_open,
    blocked_unarchived: left.blocked_unarchived,
    kept_changed_since_archive:
      left.kept_changed_since_archive + (left === plan ? 0 : left.deletable),
  };
  warnKept(kept);
  return {
    rows,
    oldest: oldest?.toISOString() ?? null,
    newest: newest?.toISOString() ?? null,
    ...kept,
    batches,
    ...base,
  };
}
