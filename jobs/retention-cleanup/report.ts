import { rename, writeFile } from 'node:fs/promises';
import type { RecordRetentionReport } from './records.js';

/** The hot-store part of a retention report. */
export interface HotRetentionReport {
  /** Indicators deleted (dry: deletable). ClickHouse counts indicators, not sightings. */
  rows: number;
  /** ISO 8601 last_seen of the oldest and newest of them; null when there are none. */
  oldest: string | null;
  newest: string | null;
  /** Indicators past the cutoff kept because their day is not in the archive ledger. */
  blocked_unarchived_rows: number;
  /**
   * Indicators past the cutoff kept because they arrived or changed (a new source, tag,
   * confidence, sighting) after their day's newest archive generation, which therefore
   * does not hold them as they are; the next archive.lock writes the day again. The real
   * run counts what is left after its deletes.
   */
  kept_changed_since_archive: number;
  /** ISO 8601: rows last seen before this were candidates. */
  cutoff: string;
  /** Deletion batches run (dry: that would run, at RETENTION_BATCH_SIZE each). */
  batches: number;
  /** Whether the archive ledger limited the days (ARCHIVE_ENABLED). */
  archive_required: boolean;
  /** Indicators the plan lists (dry: the same as rows). */
  planned?: number;
  /**
   * Planned indicators kept because they changed after they were planned (a new version in
   * PostgreSQL, a new sighting in ClickHouse); also counted in kept_changed_since_archive.
   */
  drifted?: number;
  /** Planned indicators already gone when the plan was executed (the plan's `skipped` units). */
  gone?: number;
}

/** The log-sample part of a retention report. */
export interface SampleRetentionReport {
  /** Objects deleted (dry: deletable). */
  objects: number;
  bytes: number;
  /** ISO 8601 LastModified of the oldest and newest of them; null when there are none. */
  oldest: string | null;
  newest: string | null;
  /** Candidates left alone because they are under retention or legal hold. */
  protected: number;
  /** ISO 8601: objects last modified before this were candidates; null when skipped. */
  cutoff: string | null;
  /** DeleteObjects batches run (dry: that would run). */
  batches: number;
  bucket: string;
  /** Why nothing was looked at, when nothing was (SAMPLE_RETENTION_ENABLED=false, no bucket). */
  skipped?: string;
}

/** One activity day partition past the window. */
export interface ActivityRetentionDay {
  day: string;
  /** Events the partition holds (when dropped: counted under the lock, just before the drop). */
  rows: number;
}

/** The activity part of a retention report: whole day partitions, dropped or kept. */
export interface ActivityRetentionReport {
  /** Day partitions dropped (dry: that would be), oldest first. */
  days: ActivityRetentionDay[];
  /** Events in them. */
  rows: number;
  /** Days past the window kept: no archive generation holds them (never archived, or refilled after a drop). */
  blocked_unarchived: ActivityRetentionDay[];
  /**
   * Days past the window kept: they hold events their newest generation does not (a late
   * event arrived after the archive); the next activities.archive writes them.
   */
  kept_changed_since_archive: ActivityRetentionDay[];
  /** 'YYYY-MM-DD': partitions of days before it were candidates. */
  cutoff_day: string;
  /** Whether the activity archive ledger limited the days (ARCHIVE_ENABLED). */
  archive_required: boolean;
  /** Why nothing was looked at, when nothing was. */
  skipped?: string;
}

/** The detection part of a retention report. */
export interface DetectionRetentionReport {
  /** Detections deleted (dry: deletable), with their status history. */
  rows: number;
  /** ISO 8601 timestamps of the oldest and newest of them; null when there are none. */
  oldest: string | null;
  newest: string | null;
  /** Detections past the window kept because they are open (New, Investigating, Escalated). */
  kept_open: number;
  /** Terminal detections past the window kept because no archive generation holds their day. */
  blocked_unarchived: number;
  /**
   * Terminal detections past the window kept because they changed (a status or case id, a
   * re-sent detection) after their day's newest archive generation; the next
   * detections.archive writes them. The real run counts what is left after its deletes.
   */
  kept_changed_since_archive: number;
  /** 'YYYY-MM-DD': detections of days before it were candidates. */
  cutoff_day: string;
  /** Deletion batches run (dry: that would run, at RETENTION_BATCH_SIZE each). */
  batches: number;
  /** Whether the detection archive ledger limited the deletes (ARCHIVE_ENABLED). */
  archive_required: boolean;
  /** Why nothing was looked at, when nothing was. */
  skipped?: string;
}

/** The plan a report belongs to. */
export interface RetentionPlanRef {
  id: string;
  /** SHA-256 of the plan: what `POST /v1/plans/{id}/approve` must name. */
  digest: string;
  /** `planned` (dry run, or RETENTION_APPROVAL=manual), `executed` after an execution. */
  status: string;
  /** Units the plan lists, per plan-based target. */
  counts: Record<string, number>;
  /** Targets not listed unit by unit: they execute live, at their own checks. */
  unplanned: Record<string, string>;
}

/** What retention.cleanup returns (and `stowage run retention.cleanup --report` writes). */
export interface RetentionReport {
  /** true: nothing was deleted (a dry run, or a plan that waits for approval). */
  dry_run: boolean;
  /** ISO 8601: the "now" both cutoffs were computed from. */
  as_of: string;
  /** One entry per requested target. */
  targets: {
    hot?: HotRetentionReport;
    samples?: SampleRetentionReport;
    activities?: ActivityRetentionReport;
    records?: RecordRetentionReport;
    detections?: DetectionRetentionReport;
  };
  /** The stored plan this report is of (its dry-run report, or its execution's). */
  plan?: RetentionPlanRef;
}

/** Writes a report as pretty JSON; atomically (temp file, then rename), so a reader never sees half of it. */
export async function writeReport(report: RetentionReport, path: string): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(report, null, 2)}\n`, 'utf8');
  await rename(temp, path);
}
