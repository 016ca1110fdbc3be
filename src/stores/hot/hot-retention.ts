// Retention of the hot IOC store (seed 002: 90 days hot), shared by both backends. An
// indicator's age is its last_seen (ClickHouse: the max over its sightings), and its
// "day" is the UTC calendar day of that last_seen: the unit the archive ledger records.

import type { HotBackendName } from '../../config.js';
import { UTC_DAY_MS, utcDayNumberOf } from '../../domain/utc-day.js';

/**
 * What the archive vouches for, per UTC day ('YYYY-MM-DD') in the ledger: the high-water
 * mark of the day's newest generation (decimal; see HotStore.versionHighWater), or null
 * when that generation vouches for no row version (written before versions existed).
 * Undefined instead of a map: archiving is off, and every row past the cutoff may go.
 */
export type ArchiveBounds = ReadonlyMap<string, string | null> | undefined;

/** Indicators last seen before a cutoff on one UTC day. */
export interface RetentionDay {
  /** 'YYYY-MM-DD' (UTC). */
  day: string;
  rows: number;
  /**
   * Of them, the indicators the day's newest archive holds at their current version (all of
   * them when there are no bounds; none when the day has no archive): the deletable ones.
   */
  archived: number;
  /** last_seen of the oldest and newest deletable one; null when there are none. */
  oldest: Date | null;
  newest: Date | null;
}

/** What a retention pass would delete (or did), and what it had to leave. */
export interface HotRetentionPlan {
  /** Indicators (logical IOCs, not ClickHouse sightings) deletable now. */
  rows: number;
  /** ISO 8601 last_seen of the oldest and newest of them; null when there are none. */
  oldest: string | null;
  newest: string | null;
  /** Indicators past the cutoff kept because their day is not in the archive ledger. */
  blocked_unarchived_rows: number;
  /**
   * Indicators past the cutoff kept although their day is archived: they arrived or changed
   * after the day's newest archive generation, which therefore does not hold them as they
   * are. The next archive.lock writes the day again and they become deletable.
   */
  kept_changed_since_archive: number;
}

/** What one deletion batch removed. */
export interface DeletedBatch {
  rows: number;
  oldest: Date | null;
  newest: Date | null;
}

/** Retention over one hot-store backend. */
export interface HotRetention {
  readonly backend: HotBackendName;
  /**
   * Indicators last seen before the cutoff, per UTC day of last_seen, oldest day first,
   * each with how many the bounds let go.
   */
  daysBefore(cutoff: Date, bounds: ArchiveBounds): Promise<RetentionDay[]>;
  /**
   * Deletes at most batchSize indicators last seen before the cutoff that the bounds let go
   * (every one when undefined); returns what it deleted, 0 rows when none are left. The
   * version test is part of the delete itself: a row changed after it was picked stays.
   */
  deleteBatch(cutoff: Date, bounds: ArchiveBounds, batchSize: number): Promise<DeletedBatch>;
  /**
   * A page of the indicators deleteBatch would take now, each with the state it is in, in a
   * stable order after `after` (the previous page's last): what a retention plan lists.
   */
  planPage(
    cutoff: Date,
    bounds: ArchiveBounds,
    limit: number,
    after?: PlannedIndicator,
  ): Promise<PlannedIndicator[]>;
  /**
   * Deletes the planned indicators still in their planned state, in one statement (or one
   * mutation) whose condition tests the state: per indicator, `deleted`, `drifted` (it
   * changed since it was planned, and stays) or `skipped` (already gone).
   */
  deletePlanned(items: readonly PlannedIndicator[]): Promise<PlannedOutcome[]>;
}

/** An indicator as a retention plan lists it. */
export interface PlannedIndicator {
  type: string;
  value: string;
  /**
   * The state it is deleted in: PostgreSQL's row version; ClickHouse's latest sighting as
   * `last_seen_ms:inserted_second`.
   */
  state: string;
  lastSeen: Date;
}

/** What deletePlanned did to one planned indicator. */
export type PlannedOutcome = 'deleted' | 'drifted' | 'skipped';

/**
 * Folds per-day counts into a plan: the archived indicators of days in the bounds are
 * deletable, the rest of those days kept as changed since their archive, days outside the
 * bounds blocked (with no bounds, every indicator is deletable). Both the dry run and the
 * real run start from this, so they cannot disagree about what is eligible.
 */
export function summarizeRetentionDays(
  days: readonly RetentionDay[],
  bounds: ArchiveBounds,
): HotRetentionPlan {
  let rows = 0;
  let blocked = 0;
  let changed = 0;
  let oldest: Date | undefined;
  let newest: Date | undefined;
  for (const d of days) {
    if (bounds !== undefined && !bounds.has(d.day)) {
      blocked += d.rows;
      continue;
    }
    rows += d.archived;
    changed += d.rows - d.archived;
    if (d.oldest && (!oldest || d.oldest < oldest)) oldest = d.oldest;
    if (d.newest && (!newest || d.newest > newest)) newest = d.newest;
  }
  return {
    rows,
    oldest: oldest?.toISOString() ?? null,
    newest: newest?.toISOString() ?? null,
    blocked_unarchived_rows: blocked,
    kept_changed_since_archive: changed,
  };
}

/** One day's deletable window [from, to) of last_seen and its high-water mark. */
export interface BoundedRange {
  /** Milliseconds; null: no lower end (archiving off). */
  from: number | null;
  to: number;
  /** Decimal; null: no version test (archiving off). */
  highWater: string | null;
}

/**
 * The windows deletable before the cutoff: one per day with a high-water mark (a day
 * whose newest generation has none lets nothing go), the last ending at the cutoff; one
 * unbounded window when there are no bounds.
 */
export function boundedRanges(cutoff: Date, bounds: ArchiveBounds): BoundedRange[] {
  const end = cutoff.getTime();
  if (bounds === undefined) return [{ from: null, to: end, highWater: null }];
  const ranges: BoundedRange[] = [];
  for (const [day, highWater] of bounds) {
    if (highWater === null) continue;
    const n = utcDayNumberOf(day);
    const from = n * UTC_DAY_MS;
    if (from >= end) continue;
    ranges.push({ from, to: Math.min((n + 1) * UTC_DAY_MS, end), highWater });
  }
  return ranges.sort((a, b) => (a.from ?? 0) - (b.from ?? 0));
}

/** Folds a batch's oldest and newest into running ones. */
export function widen(
  acc: { oldest: Date | null; newest: Date | null },
  batch: DeletedBatch,
): { oldest: Date | null; newest: Date | null } {
  return {
    oldest: batch.oldest && (!acc.oldest || batch.oldest < acc.oldest) ? batch.oldest : acc.oldest,
    newest: batch.newest && (!acc.newest || batch.newest > acc.newest) ? batch.newest : acc.newest,
  };
}
