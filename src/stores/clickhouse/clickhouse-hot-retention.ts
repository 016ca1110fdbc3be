import type { ClickHouseClient } from '@clickhouse/client';
import { UTC_DAY_MS, utcDayOfNumber } from '../../domain/utc-day.js';
import { classifyClickHouseError } from './classify-clickhouse-error.js';
import { clickHouseIdentifier, clickHouseLiteral, chunkByLength } from './clickhouse-sql.js';
import { mutationIds, waitForMutations, type MutationWait } from './mutations.js';
import {
  boundedRanges,
  type ArchiveBounds,
  type BoundedRange,
  type DeletedBatch,
  type HotRetention,
  type PlannedIndicator,
  type PlannedOutcome,
  type RetentionDay,
} from '../hot/hot-retention.js';

// ClickHouseHotStore's table of sightings; an indicator is every sighting of a (type, value).
const TABLE = 'ioc_sightings';

// Inlined key text per ALTER: well under the default max_query_size of 256 KiB, which
// counts bytes, so multi-byte values still fit.
const MAX_INLINED_CHARS = 60_000;

// 64-bit integers come back as JSON strings.
type Int64 = string | number;

interface DayRow {
  day_number: Int64;
  n: Int64;
  archived: Int64;
  oldest_ms: Int64;
  newest_ms: Int64;
}

interface KeyRow {
  type: string;
  value: string;
  max_ms: Int64;
}

interface StateRow extends KeyRow {
  max_inserted: Int64;
}

/**
 * Retention over ClickHouseHotStore's sightings. An indicator goes as a whole: every
 * sighting of a (type, value) whose latest last_seen is before the cutoff, never single
 * old sightings of an indicator seen since. With archive bounds, an indicator goes only
 * when every sighting of it was inserted at or before its day's high-water mark (so the
 * archive holds it as it is), and the delete itself takes only sightings inserted by then:
 * one inserted after the keys were chosen survives. Deletes are mutations (`ALTER TABLE … DELETE`),
 * asynchronous on 18.16 (no mutations_sync), so each batch waits in system.mutations until
 * they are done: a finished job's report is then true, and the next batch does not pick
 * the same keys again.
 */
export class ClickHouseHotRetention implements HotRetention {
  readonly backend = 'clickhouse' as const;
  private readonly database: string;
  private readonly table: string;
  private readonly wait: MutationWait;

  constructor(
    private readonly client: ClickHouseClient,
    options: { database: string; mutationWait?: Partial<MutationWait> },
  ) {
    this.database = clickHouseIdentifier(options.database);
    this.table = `${this.database}.${TABLE}`;
    this.wait = { timeoutMs: 600_000, pollMs: 100, ...options.mutationWait };
  }

  async daysBefore(cutoff: Date, bounds: ArchiveBounds): Promise<RetentionDay[]> {
    const cutoffMs = clickHouseLiteral(cutoff.getTime());
    const archived = bounds === undefined ? '1' : archivedTest(boundedRanges(cutoff, bounds));
    // floor(), not intDiv(): 18.16's intDiv of a negative Int64 by a constant is wrong.
    const rows = await this.select<DayRow>(
      `SELECT floor(max_ms / ${UTC_DAY_MS}) AS day_number, count() AS n,
              countIf(${archived}) AS archived,
              minIf(max_ms, ${archived}) AS oldest_ms, maxIf(max_ms, ${archived}) AS newest_ms
       FROM (${this.expiredIndicators(cutoffMs)})
       GROUP BY day_number
       ORDER BY day_number`,
    );
    return rows.map((r) => {
      const some = Number(r.archived) > 0;
      return {
        day: utcDayOfNumber(Number(r.day_number)),
        rows: Number(r.n),
        archived: Number(r.archived),
        oldest: some ? new Date(Number(r.oldest_ms)) : null,
        newest: some ? new Date(Number(r.newest_ms)) : null,
      };
    });
  }

  async deleteBatch(cutoff: Date, bounds: ArchiveBounds, batchSize: number): Promise<DeletedBatch> {
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
    }
    const ranges = boundedRanges(cutoff, bounds);
    if (ranges.length === 0) return { rows: 0, oldest: null, newest: null };
    const cutoffMs = clickHouseLiteral(cutoff.getTime());
    const having = bounds === undefined ? '' : ` AND (${archivedTest(ranges)})`;
    const keys = await this.select<KeyRow>(
      `${this.expiredIndicators(cutoffMs, having)} LIMIT ${clickHouseLiteral(batchSize)}`,
    );
    if (keys.length === 0) return { rows: 0, oldest: null, newest: null };

    let oldest = Infinity;
    let newest = -Infinity;
    // Each key with its day's high-water mark: the delete takes only the sightings
    // inserted by then.
    const marked = keys.map((k) => {
      const ms = Number(k.max_ms);
      oldest = Math.min(oldest, ms);
      newest = Math.max(newest, ms);
      const mark = ranges.find((r) => (r.from ?? -Infinity) <= ms && ms < r.to)?.highWater;
      return {
        mark: mark ?? null,
        tuple: `(${clickHouseLiteral(k.type)}, ${clickHouseLiteral(k.value)})`,
      };
    });
    const before = await mutationIds(this.client, { database: this.database, table: TABLE });
    // `last_seen_ms < cutoff` again: a sighting inserted since the keys were chosen is
    // newer than the cutoff and survives (the indicator lives on), instead of being lost;
    // `inserted_at <= mark`: so does a late sighting of an old day that no archive holds.
    for (const chunk of chunkByLength(
      marked.map((m) => `${m.mark ?? ''}|${m.tuple}`),
      MAX_INLINED_CHARS,
    )) {
      await this.run(() =>
        this.client.command({
          query: `ALTER TABLE ${this.table} DELETE
                  WHERE last_seen_ms < ${cutoffMs} AND (${deleteCondition(chunk)})`,
        }),
      );
    }
    await waitForMutations(
      this.client,
      { database: this.database, table: TABLE },
      before,
      this.wait,
    );
    return { rows: keys.length, oldest: new Date(oldest), newest: new Date(newest) };
  }

  async planPage(
    cutoff: Date,
    bounds: ArchiveBounds,
    limit: number,
    after?: PlannedIndicator,
  ): Promise<PlannedIndicator[]> {
    const ranges = boundedRanges(cutoff, bounds);
    if (ranges.length === 0) return [];
    const cutoffMs = clickHouseLiteral(cutoff.getTime());
    const having = bounds === undefined ? '' : ` AND (${archivedTest(ranges)})`;
    // No tuple comparison on 18.16: the (type, value) keyset spelled out.
    const next =
      after === undefined
        ? '1'
        : `type > ${clickHouseLiteral(after.type)} OR (type = ${clickHouseLiteral(after.type)}
             AND value > ${clickHouseLiteral(after.value)})`;
    const rows = await this.select<StateRow>(
      `SELECT type, value, max_ms, max_inserted
       FROM (${this.expiredIndicators(cutoffMs, having)})
       WHERE ${next}
       ORDER BY type, value
       LIMIT ${clickHouseLiteral(limit)}`,
    );
    return rows.map((r) => ({
      type: r.type,
      value: r.value,
      state: stateOf(r),
      lastSeen: new Date(Number(r.max_ms)),
    }));
  }

  async deletePlanned(items: readonly PlannedIndicator[]): Promise<PlannedOutcome[]> {
    if (items.length === 0) return [];
    const tupleOf = (i: { type: string; value: string }) =>
      `(${clickHouseLiteral(i.type)}, ${clickHouseLiteral(i.value)})`;
    // Each indicator's state now: a sighting added since the plan (a newer last_seen, or a
    // later insert) makes it drift, and it is left whole.
    const now = await this.states(items.map(tupleOf));
    const outcomes: PlannedOutcome[] = items.map((i) => {
      const current = now.get(tupleOf(i));
      return current === undefined ? 'skipped' : current === i.state ? 'deleted' : 'drifted';
    });
    const doomed = items.filter((_, n) => outcomes[n] === 'deleted');
    if (doomed.length === 0) return outcomes;
    const before = await mutationIds(this.client, { database: this.database, table: TABLE });
    // The mutation takes only the sightings inserted by the planned second of each
    // indicator: one inserted after the check survives, and with it the indicator.
    for (const chunk of chunkByLength(
      doomed.map((i) => `${i.state.split(':')[1] ?? '0'}|${tupleOf(i)}`),
      MAX_INLINED_CHARS,
    )) {
      await this.run(() =>
        this.client.command({
          query: `ALTER TABLE ${this.table} DELETE WHERE ${deleteCondition(chunk)}`,
        }),
      );
    }
    await waitForMutations(
      this.client,
      { database: this.database, table: TABLE },
      before,
      this.wait,
    );
    // Whatever still has a sighting changed while the mutation ran: it drifted.
    const left = await this.states(doomed.map(tupleOf));
    return items.map((i, n) =>
      outcomes[n] === 'deleted' && left.has(tupleOf(i)) ? 'drifted' : outcomes[n]!,
    );
  }

  /** The state (`max_ms:max_inserted`) of each indicator given as a tuple literal that exists. */
  private async states(tuples: readonly string[]): Promise<Map<string, string>> {
    const states = new Map<string, string>();
    for (const chunk of chunkByLength([...tuples], MAX_INLINED_CHARS)) {
      const rows = await this.select<StateRow>(
        `SELECT type, value, max(last_seen_ms) AS max_ms,
                max(toUInt32(inserted_at)) AS max_inserted
         FROM ${this.table}
         WHERE (type, value) IN (${chunk.join(', ')})
         GROUP BY type, value`,
      );
      for (const r of rows) {
        states.set(`(${clickHouseLiteral(r.type)}, ${clickHouseLiteral(r.value)})`, stateOf(r));
      }
    }
    return states;
  }

  /** Indicators whose latest sighting is before the cutoff: type, value, max_ms, max_inserted. */
  private expiredIndicators(cutoffMs: string, having = ''): string {
    // Only keys with at least one old sighting can qualify; the IN set narrows the
    // aggregation to them, and the aggregate still reads every sighting of each.
    // The aliases differ from every column name (ClickHouse substitutes aliases everywhere).
    return `SELECT type, value, max(last_seen_ms) AS max_ms,
                   max(toUInt32(inserted_at)) AS max_inserted
            FROM ${this.table}
            WHERE (type, value) IN (
              SELECT type, value FROM ${this.table} WHERE last_seen_ms < ${cutoffMs})
            GROUP BY type, value
            HAVING max_ms < ${cutoffMs}${having}`;
  }

  private async select<T>(query: string): Promise<T[]> {
    return this.run(async () => {
      const result = await this.client.query({ query, format: 'JSONEachRow' });
      return result.json<T>();
    });
  }

  private async run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw classifyClickHouseError(err);
    }
  }
}

/** An indicator's planned state: its latest last_seen and latest insert second. */
function stateOf(row: StateRow): string {
  return `${Number(row.max_ms)}:${Number(row.max_inserted)}`;
}

/**
 * Whether an indicator (max_ms, max_inserted) is held by its day's archive as it is: its
 * latest sighting is in one of the day windows and none of its sightings was inserted
 * after that day's high-water mark.
 */
function archivedTest(ranges: readonly BoundedRange[]): string {
  const terms = ranges.map((r) => {
    const version =
      r.highWater === null ? '' : ` AND max_inserted <= ${clickHouseLiteral(Number(r.highWater))}`;
    return `(max_ms >= ${clickHouseLiteral(r.from ?? 0)} AND max_ms < ${clickHouseLiteral(r.to)}${version})`;
  });
  return terms.length === 0 ? '0' : terms.join(' OR ');
}

/**
 * The WHERE of one delete over `mark|tuple` entries: per high-water mark, its keys and
 * `inserted_at <= mark` (no mark: archiving is off, every sighting of the key goes).
 */
function deleteCondition(entries: readonly string[]): string {
  const byMark = new Map<string, string[]>();
  for (const entry of entries) {
    const bar = entry.indexOf('|');
    const mark = entry.slice(0, bar);
    const tuples = byMark.get(mark) ?? [];
    tuples.push(entry.slice(bar + 1));
    byMark.set(mark, tuples);
  }
  return [...byMark]
    .map(([mark, tuples]) => {
      const keys = `(type, value) IN (${tuples.join(', ')})`;
      return mark === ''
        ? `(${keys})`
        : `(${keys} AND toUInt32(inserted_at) <= ${clickHouseLiteral(Number(mark))})`;
    })
    .join(' OR ');
}
