import type { ClickHouseClient } from '@clickhouse/client';
import type { StoredActivity } from '../../domain/activity.js';
import { utcDayOf } from '../../domain/utc-day.js';
import type {
  ActivityCount,
  ActivityDay,
  ActivityQuery,
  ActivityStore,
  RetiredActivityDay,
} from '../hot/activity-store.js';
import type { ActivityDayLocks } from '../postgres/activity-day-locks.js';
import { classifyClickHouseError, clickHouseErrorCode } from './classify-clickhouse-error.js';
import { chunkByLength, clickHouseIdentifier, clickHouseLiteral } from './clickhouse-sql.js';

const TABLE = 'activities';

// Inlined key text per query, well under max_query_size (256 KiB) as the hot store keeps it.
const MAX_INLINED_CHARS = 60_000;

// TABLE_ALREADY_EXISTS, DATABASE_ALREADY_EXISTS: another process won a concurrent init.
const ALREADY_EXISTS = new Set([57, 82]);

// One event is one row per (source, timestamp_ms, event_id): the sorting key, so
// ReplacingMergeTree collapses replays. `ver` falls as the server's clock rises, so the
// collapse keeps the earliest write (the first write wins, as on PostgreSQL), and reads take
// the row of the highest `ver` until the merge has happened. Kept to the SQL of ClickHouse
// 18.16 (no DateTime64, no insert_deduplication_token): times are Int64 milliseconds.
const TABLE_COLUMNS = `
  day Date,
  source String,
  timestamp_ms Int64,
  event_id String,
  event_type String,
  record String,
  ver UInt32 MATERIALIZED 4294967295 - toUInt32(now())`;

const KEY = 'timestamp_ms, event_id, source';

// How long retireDay waits for inserts into the day in flight before it gives up.
const RETIRE_LOCK_TIMEOUT_MS = 10_000;

/**
 * Activity events in ClickHouse: a ReplacingMergeTree partitioned by UTC day and ordered
 * for search (source, timestamp, event id). An insert leaves out the events already stored
 * (first write wins; `written` counts the new ones), and every read takes one row a key, so
 * a replay that races the check is collapsed by the merge and never read twice.
 */
export class ClickHouseActivityStore implements ActivityStore {
  readonly backend = 'clickhouse' as const;
  private readonly database: string;
  private readonly table: string;
  private readonly dayLocks: ActivityDayLocks | undefined;

  constructor(
    private readonly client: ClickHouseClient,
    options: {
      database: string;
      /**
       * The per-day locks inserts share and retireDay holds alone; without them inserts
       * take none and retireDay refuses (it could drop an event landing after its count).
       */
      dayLocks?: ActivityDayLocks;
    },
  ) {
    this.dayLocks = options.dayLocks;
    this.database = clickHouseIdentifier(options.database);
    this.table = `${this.database}.${TABLE}`;
  }

  async init(): Promise<void> {
    await this.run(async () => {
      await this.createIfMissing(`CREATE DATABASE IF NOT EXISTS ${this.database}`);
      await this.createIfMissing(
        `CREATE TABLE IF NOT EXISTS ${this.table} (${TABLE_COLUMNS})
         ENGINE = ReplacingMergeTree(ver)
         PARTITION BY day
         ORDER BY (source, timestamp_ms, event_id)`,
      );
    });
  }

  async insert(records: readonly StoredActivity[]): Promise<{ written: number }> {
    if (records.length === 0) return { written: 0 };
    const rows = records.map((r) => ({
      day: utcDayOf(new Date(r.timestamp)),
      source: r.source,
      timestamp_ms: Date.parse(r.timestamp),
      event_id: r.event_id,
      event_type: r.event_type,
      record: JSON.stringify(r),
    }));
    const write = () =>
      this.run(async () => {
        const stored = await this.storedKeys(rows);
        const fresh = rows.filter((r) => !stored.has(keyOf(r)));
        if (fresh.length > 0) {
          await this.client.insert({ table: this.table, values: fresh, format: 'JSONEachRow' });
        }
        return { written: fresh.length };
      });
    // Shared with other inserts, never with a retirement of one of these days.
    return this.dayLocks
      ? this.dayLocks.shared([...new Set(rows.map((r) => r.day))], write)
      : write();
  }

  /**
   * The page's keys first, then only their records, in one statement: the subquery reads
   * the sort key columns (and `event_type` when filtered) of the window and keeps the
   * page's keys; the outer query reads the `record` column of the granules holding them
   * alone, instead of every matching row's before the LIMIT. The keys are an explicit
   * PREWHERE: 18.16 would move a window bound there instead and read the record of every
   * row in the window (7 days of 200,000 rows: 30 MiB, not 5.5). They reach the server as
   * a subquery's set, not inlined: 18.16 parses an inlined list of tuples slowly (100 keys
   * took 13 ms, more than the search they spare on a small window).
   */
  async search(query: ActivityQuery): Promise<StoredActivity[]> {
    // The filters in both: among replays not yet merged, the row read is the highest `ver`
    // (the first write) of the rows passing them, as a single scan would take.
    const where = [...this.windowWhere(query), ...this.filterWhere(query)].join(' AND ');
    const rows = await this.select<{ record: string }>(
      `SELECT record FROM ${this.table}
       PREWHERE (source, timestamp_ms, event_id) IN (
         SELECT source, timestamp_ms, event_id FROM ${this.table}
         WHERE ${where}
         ORDER BY ${KEY}
         LIMIT 1 BY ${KEY}
         LIMIT ${clickHouseLiteral(query.limit)})
       WHERE ${where}
       ORDER BY ${KEY}, ver DESC
       LIMIT 1 BY ${KEY}`,
    );
    return rows.map((r) => JSON.parse(r.record) as StoredActivity);
  }

  async stats(window: { start: Date; end: Date }): Promise<ActivityCount[]> {
    const rows = await this.select<{ source: string; event_type: string; n: string | number }>(
      `SELECT source, event_type, count() AS n FROM (
         SELECT source, event_type FROM ${this.table}
         WHERE ${this.windowWhere(window).join(' AND ')}
         ORDER BY ${KEY}, ver DESC
         LIMIT 1 BY ${KEY})
       GROUP BY source, event_type ORDER BY source, event_type`,
    );
    return rows.map((r) => ({ source: r.source, event_type: r.event_type, count: Number(r.n) }));
  }

  async days(): Promise<string[]> {
    const rows = await this.select<{ partition: string }>(
      `SELECT DISTINCT partition FROM system.parts
       WHERE database = ${clickHouseLiteral(this.database)}
         AND table = ${clickHouseLiteral(TABLE)} AND active
       ORDER BY partition`,
    );
    return rows.map((r) => r.partition.replace(/^'|'$/g, ''));
  }

  async dayCounts(before: string): Promise<ActivityDay[]> {
    const days = (await this.days()).filter((d) => d < before);
    if (days.length === 0) return [];
    // The alias is not `day`: ClickHouse would read the WHERE's `day` as the alias.
    const rows = await this.select<{ d: string; n: string | number }>(
      `SELECT toString(day) AS d, uniqExact(source, timestamp_ms, event_id) AS n
       FROM ${this.table} WHERE day < toDate(${clickHouseLiteral(before)}) GROUP BY day`,
    );
    const counts = new Map(rows.map((r) => [r.d, Number(r.n)]));
    return days.map((day) => ({ day, rows: counts.get(day) ?? 0 }));
  }

  /**
   * Holds the day's lock exclusive (inserts into the day wait), counts the partition's
   * distinct events, compares, and drops the partition.
   */
  async retireDay(
    day: string,
    expectedRows: number | null,
    beforeDrop: (rows: number) => Promise<void>,
  ): Promise<RetiredActivityDay> {
    const locks = this.dayLocks;
    if (locks === undefined) {
      throw new Error('ClickHouseActivityStore.retireDay needs the day locks (dayLocks)');
    }
    return locks.exclusive(day, RETIRE_LOCK_TIMEOUT_MS, async () => {
      const [row] = await this.select<{ n: string | number }>(
        `SELECT uniqExact(source, timestamp_ms, event_id) AS n FROM ${this.table}
         WHERE day = toDate(${clickHouseLiteral(day)})`,
      );
      const n = Number(row?.n ?? 0);
      if (expectedRows !== null && n !== expectedRows) return { day, rows: n, dropped: false };
      await beforeDrop(n);
      await this.run(() =>
        this.client.command({
          query: `ALTER TABLE ${this.table} DROP PARTITION ${clickHouseLiteral(day)}`,
        }),
      );
      return { day, rows: n, dropped: true };
    });
  }

  async count(): Promise<number> {
    const [row] = await this.select<{ n: string | number }>(
      `SELECT uniqExact(source, timestamp_ms, event_id) AS n FROM ${this.table}`,
    );
    return Number(row?.n ?? 0);
  }

  /** The conditions of a search besides its window: source, event type, cursor. */
  private filterWhere(query: ActivityQuery): string[] {
    const where: string[] = [];
    if (query.source !== undefined) where.push(`source = ${clickHouseLiteral(query.source)}`);
    if (query.event_type !== undefined) {
      where.push(`event_type = ${clickHouseLiteral(query.event_type)}`);
    }
    if (query.after !== undefined) {
      const ts = clickHouseLiteral(Date.parse(query.after.timestamp));
      const id = clickHouseLiteral(query.after.event_id);
      const src = clickHouseLiteral(query.after.source);
      where.push(
        `(timestamp_ms > ${ts} OR (timestamp_ms = ${ts} AND (event_id > ${id} OR (event_id = ${id} AND source > ${src}))))`,
      );
    }
    return where;
  }

  /** The partition and time bounds of a window [start, end). */
  private windowWhere(window: { start: Date; end: Date }): string[] {
    const lastMs = window.end.getTime() - 1;
    return [
      `day >= toDate(${clickHouseLiteral(utcDayOf(window.start))})`,
      `day <= toDate(${clickHouseLiteral(utcDayOf(new Date(lastMs)))})`,
      `timestamp_ms >= ${clickHouseLiteral(window.start.getTime())}`,
      `timestamp_ms < ${clickHouseLiteral(window.end.getTime())}`,
    ];
  }

  /** The keys of `rows` already stored, read in queries under max_query_size. */
  private async storedKeys(
    rows: readonly { day: string; source: string; timestamp_ms: number; event_id: string }[],
  ): Promise<Set<string>> {
    const days = [...new Set(rows.map((r) => r.day))].map((d) => `toDate(${clickHouseLiteral(d)})`);
    const tuples = rows.map(
      (r) =>
        `(${clickHouseLiteral(r.source)}, ${clickHouseLiteral(r.timestamp_ms)}, ${clickHouseLiteral(r.event_id)})`,
    );
    const found = new Set<string>();
    for (const chunk of chunkByLength(tuples, MAX_INLINED_CHARS)) {
      const result = await this.client.query({
        query: `SELECT source, timestamp_ms, event_id FROM ${this.table}
                WHERE day IN (${days.join(', ')})
                  AND (source, timestamp_ms, event_id) IN (${chunk.join(', ')})`,
        format: 'JSONEachRow',
      });
      for (const r of await result.json<{
        source: string;
        timestamp_ms: string | number;
        event_id: string;
      }>()) {
        found.add(keyOf({ ...r, timestamp_ms: Number(r.timestamp_ms) }));
      }
    }
    return found;
  }

  private async select<T>(query: string): Promise<T[]> {
    return this.run(async () => {
      const result = await this.client.query({ query, format: 'JSONEachRow' });
      return result.json<T>();
    });
  }

  private async createIfMissing(ddl: string): Promise<void> {
    try {
      await this.client.command({ query: ddl });
    } catch (err) {
      // IF NOT EXISTS is checked before the create, so two processes can both pass it.
      const code = clickHouseErrorCode(err);
      if (code === undefined || !ALREADY_EXISTS.has(code)) throw err;
    }
  }

  private async run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw classifyClickHouseError(err);
    }
  }
}

function keyOf(r: { source: string; timestamp_ms: number; event_id: string }): string {
  return `${r.source}\u0000${r.timestamp_ms}\u0000${r.event_id}`;
}
