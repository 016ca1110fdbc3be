// Retention of the hot IOC store (seed 002: 90 days hot), shared by both backends. An
// indicator's age is its last_seen (ClickHouse: the max over its sightings), and its
// "day" is the UTC calendar day of that last_seen: the unit the archive ledger records.

/** Milliseconds in a UTC day. */
export const DAY_MS = 86_400_000;

/** Indicators last seen before a cutoff on one UTC day. */
export interface RetentionDay {
  /** 'YYYY-MM-DD' (UTC). */
  day: string;
  rows: number;
  oldest: Date;
  newest: Date;
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
}

/** What one deletion batch removed. */
export interface DeletedBatch {
  rows: number;
  oldest: Date | null;
  newest: Date | null;
}

/** Retention over one hot-store backend. */
export interface HotRetention {
  readonly backend: 'postgres' | 'clickhouse';
  /** Indicators last seen before the cutoff, per UTC day of last_seen, oldest day first. */
  daysBefore(cutoff: Date): Promise<RetentionDay[]>;
  /** The report of what deleteBatch would remove: only archivedDays when given, all days when not. */
  plan(cutoff: Date, options?: { archivedDays?: ReadonlySet<string> }): Promise<HotRetentionPlan>;
  /**
   * Deletes at most batchSize indicators last seen before the cutoff whose UTC day is in
   * `days` (every day when undefined); returns what it deleted, 0 rows when none are left.
   */
  deleteBatch(
    cutoff: Date,
    days: ReadonlySet<string> | undefined,
    batchSize: number,
  ): Promise<DeletedBatch>;
}

/** The UTC day ('YYYY-MM-DD') of a day number (days since 1970-01-01). */
export function dayOfNumber(dayNumber: number): string {
  return new Date(dayNumber * DAY_MS).toISOString().slice(0, 10);
}

/** The day number (days since 1970-01-01, UTC) of a 'YYYY-MM-DD' day; throws on anything else. */
export function dayNumberOf(day: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(day) ? Date.parse(`${day}T00:00:00Z`) : NaN;
  if (Number.isNaN(ms)) throw new RangeError(`not a YYYY-MM-DD day: ${JSON.stringify(day)}`);
  return ms / DAY_MS;
}

/**
 * Folds per-day counts into a plan: days in `archivedDays` (every day when undefined) are
 * deletable, the others blocked. Both the dry run and the real run start from this, so
 * they cannot disagree about what is eligible.
 */
export function summarizeRetentionDays(
  days: readonly RetentionDay[],
  archivedDays?: ReadonlySet<string>,
): HotRetentionPlan {
  let rows = 0;
  let blocked = 0;
  let oldest: Date | undefined;
  let newest: Date | undefined;
  for (const d of days) {
    if (archivedDays !== undefined && !archivedDays.has(d.day)) {
      blocked += d.rows;
      continue;
    }
    rows += d.rows;
    if (!oldest || d.oldest < oldest) oldest = d.oldest;
    if (!newest || d.newest > newest) newest = d.newest;
  }
  return {
    rows,
    oldest: oldest?.toISOString() ?? null,
    newest: newest?.toISOString() ?? null,
    blocked_unarchived_rows: blocked,
  };
}

/**
 * Allowed days as half-open [from, to) ranges of milliseconds, consecutive days merged and
 * the last range ending at the cutoff; one unbounded range when every day is allowed.
 */
export function allowedRanges(
  cutoff: Date,
  days: ReadonlySet<string> | undefined,
): { from: number | null; to: number }[] {
  const end = cutoff.getTime();
  if (days === undefined) return [{ from: null, to: end }];
  const numbers = [...days].map(dayNumberOf).sort((a, b) => a - b);
  const ranges: { from: number | null; to: number }[] = [];
  for (const n of numbers) {
    const from = n * DAY_MS;
    if (from >= end) break;
    const to = Math.min((n + 1) * DAY_MS, end);
    const last = ranges.at(-1);
    if (last && last.to === from) last.to = to;
    else ranges.push({ from, to });
  }
  return ranges;
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
