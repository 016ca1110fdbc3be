import { createHash } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import type { IocType, StoredIoc } from '../../domain/ioc.js';
import { UTC_DAY_MS, utcDayOfNumber } from '../../domain/utc-day.js';
import { TransientError } from '../../errors/index.js';
import { classifyClickHouseError, clickHouseErrorCode } from './classify-clickhouse-error.js';
import { clickHouseIdentifier, clickHouseLiteral, chunkByLength } from './clickhouse-sql.js';
import type { HotStore, UpsertResult, WindowDay } from '../hot/hot-store.js';

const TABLE = 'ioc_sightings';

// Inlined key text per query: well under the default max_query_size of 256 KiB, leaving
// room for multi-byte characters (the limit counts bytes) and the rest of the query.
const MAX_INLINED_CHARS = 60_000;

// Rows one grouped insert takes at most (about 10 MB of JSON).
const MAX_GROUP_ROWS = 50_000;

// TABLE_ALREADY_EXISTS, DATABASE_ALREADY_EXISTS: another process won a concurrent init.
const ALREADY_EXISTS = new Set([57, 82]);

// When the server inserted a sighting (its clock, whole seconds): an indicator's version is
// the latest of its sightings', and an archive's high-water mark is such a time. The server
// stamps it, so no client clock matters and no client can set it.
const INSERTED_AT = `inserted_at DateTime('UTC') MATERIALIZED now()`;

// Kept to the SQL ClickHouse 18.16 understands (no DateTime64, TTL, Map, LowCardinality),
// which every later release understands too. Times are Int64 milliseconds, because
// DateTime has whole seconds only and mergeIoc compares milliseconds; the DateTime
// columns derived from them are for people and for maintenance queries.
const TABLE_COLUMNS = `
  type String,
  value String,
  threat_type String,
  confidence Float64,
  sources Array(String),
  tags Array(String),
  first_seen_ms Int64,
  last_seen_ms Int64,
  sighting_id String,
  first_seen DateTime('UTC') MATERIALIZED toDateTime(least(greatest(intDiv(first_seen_ms, 1000), 0), 4294967295)),
  last_seen DateTime('UTC') MATERIALIZED toDateTime(least(greatest(intDiv(last_seen_ms, 1000), 0), 4294967295)),
  ${INSERTED_AT}`;

// mergeIoc as aggregates. Each is idempotent (min, max, distinct union), so duplicate
// sightings that ReplacingMergeTree has not collapsed yet cannot change the result, and
// no FINAL is needed. The latest sighting is the greatest (last_seen, confidence,
// threat_type) tuple: bIsLatest's order. Aliases differ from column names because
// ClickHouse substitutes aliases everywhere in the query.
export const MERGED_COLUMNS = `
  type,
  value,
  max((last_seen_ms, confidence, threat_type)) AS latest,
  tupleElement(latest, 2) AS latest_confidence,
  tupleElement(latest, 3) AS latest_threat_type,
  min(first_seen_ms) AS min_first_seen_ms,
  max(last_seen_ms) AS max_last_seen_ms,
  groupUniqArrayArray(sources) AS all_sources,
  groupUniqArrayArray(tags) AS all_tags`;

/** A row of MERGED_COLUMNS. */
export interface MergedRow {
  type: string;
  value: string;
  latest_confidence: number;
  latest_threat_type: string;
  // 64-bit integers come back as JSON strings.
  min_first_seen_ms: string | number;
  max_last_seen_ms: string | number;
  all_sources: string[];
  all_tags: string[];
}

export interface SightingRow {
  type: string;
  value: string;
  threat_type: string;
  confidence: number;
  sources: string[];
  tags: string[];
  first_seen_ms: number;
  last_seen_ms: number;
  sighting_id: string;
}

/**
 * The hot IOC store in ClickHouse: an append-only table of sightings, merged per
 * (type, value) when read. Identical sightings share a sighting_id, so a replayed batch
 * collapses in ReplacingMergeTree and, until it has, reads as the same merged row.
 */
export class ClickHouseHotStore implements HotStore {
  readonly backend = 'clickhouse' as const;
  private readonly database: string;
  private readonly table: string;

  constructor(
    private readonly client: ClickHouseClient,
    options: { database: string },
  ) {
    this.database = clickHouseIdentifier(options.database);
    this.table = `${this.database}.${TABLE}`;
  }

  async init(): Promise<void> {
    await this.run(async () => {
      await this.createIfMissing(`CREATE DATABASE IF NOT EXISTS ${this.database}`);
      // ORDER BY ends in sighting_id: only byte-identical merged records collapse, never
      // two different sightings of the same indicator.
      await this.createIfMissing(
        `CREATE TABLE IF NOT EXISTS ${this.table} (${TABLE_COLUMNS})
         ENGINE = ReplacingMergeTree
         ORDER BY (type, value, sighting_id)`,
      );
      await this.addInsertedAt();
    });
  }

  /**
   * A table of an older Stowage lacks inserted_at. A column added by ALTER is computed on
   * every read for the parts written before it (so now() would make old sightings look new
   * for ever): one OPTIMIZE … FINAL rewrites those parts with the column stored, stamped
   * with the time of the upgrade. That rewrites the whole table, once.
   */
  private async addInsertedAt(): Promise<void> {
    const has = async () => {
      const result = await this.client.query({
        query: `SELECT count() AS n FROM system.columns
                WHERE database = ${clickHouseLiteral(this.database)}
                  AND table = ${clickHouseLiteral(TABLE)} AND name = 'inserted_at'`,
        format: 'JSONEachRow',
      });
      const [row] = await result.json<{ n: string | number }>();
      return Number(row?.n ?? 0) > 0;
    };
    if (await has()) return;
    try {
      // 18.16 has no ADD COLUMN IF NOT EXISTS.
      await this.client.command({ query: `ALTER TABLE ${this.table} ADD COLUMN ${INSERTED_AT}` });
    } catch (err) {
      // Another process added it first.
      if (!(await has())) throw err;
    }
    await this.client.command({ query: `OPTIMIZE TABLE ${this.table} FINAL` });
  }

  async upsert(batch: readonly StoredIoc[]): Promise<UpsertResult> {
    if (batch.length === 0) return { written: 0 };
    const rows = batch.map(toSightingRow);
    await this.inserts.add(rows);
    return { written: new Set(rows.map((r) => `${r.type}\u0000${r.value}`)).size };
  }

  /**
   * Group commit: while one insert is in flight, the batches of other jobs wait and go
   * together in the next one, so concurrent jobs make fewer, larger blocks (each insert is
   * a new part ClickHouse has to merge). Each caller returns once the insert holding its
   * rows did; a failed insert fails every batch in it (their jobs retry: sightings are
   * idempotent).
   */
  private readonly inserts = new GroupCommit<SightingRow>(MAX_GROUP_ROWS, (rows) =>
    // JSONEachRow sends values as data, never as SQL text.
    this.run(() => this.client.insert({ table: this.table, values: rows, format: 'JSONEachRow' })),
  );

  async get(type: IocType, value: string): Promise<StoredIoc | undefined> {
    const rows = await this.select(
      `SELECT ${MERGED_COLUMNS} FROM ${this.table}
       WHERE type = ${clickHouseLiteral(type)} AND value = ${clickHouseLiteral(value)}
       GROUP BY type, value`,
    );
    return rows[0];
  }

  async getMany(keys: readonly { type: IocType; value: string }[]): Promise<StoredIoc[]> {
    // Keys are inlined (18.16 has no parameters), and the server parses at most
    // max_query_size (256 KiB by default) of query text, so long key lists go in chunks.
    // Grouped by type as `type = … AND value IN (…)`: 18.16 narrows that by the primary key
    // to the granules of those values, where a tuple IN read far more of a large table.
    const byType = new Map<string, string[]>();
    for (const k of keys) {
      const values = byType.get(k.type) ?? [];
      values.push(clickHouseLiteral(k.value));
      byType.set(k.type, values);
    }
    const results: StoredIoc[] = [];
    for (const [type, values] of byType) {
      for (const chunk of chunkByLength(values, MAX_INLINED_CHARS)) {
        results.push(
          ...(await this.select(
            `SELECT ${MERGED_COLUMNS} FROM ${this.table}
             WHERE type = ${clickHouseLiteral(type)} AND value IN (${chunk.join(', ')})
             GROUP BY type, value`,
          )),
        );
      }
    }
    return results.sort((a, b) =>
      a.type !== b.type
        ? a.type < b.type
          ? -1
          : 1
        : a.value < b.value
          ? -1
          : a.value > b.value
            ? 1
            : 0,
    );
  }

  async findHot(options: {
    minConfidence: number;
    since: Date;
    limit: number;
  }): Promise<StoredIoc[]> {
    if (!Number.isSafeInteger(options.limit) || options.limit < 0) {
      throw new RangeError(`limit must be a non-negative integer, got ${options.limit}`);
    }
    const minConfidence = clickHouseLiteral(options.minConfidence);
    const sinceMs = clickHouseLiteral(options.since.getTime());
    // An indicator is hot when its latest sighting is; that sighting is itself recent and
    // confident, so the subquery narrows the keys to aggregate without missing any. The
    // full aggregate still reads every sighting of those keys (first_seen, tags, sources).
    return this.select(
      `SELECT ${MERGED_COLUMNS} FROM ${this.table}
       WHERE (type, value) IN (
         SELECT type, value FROM ${this.table}
         WHERE last_seen_ms >= ${sinceMs} AND confidence >= ${minConfidence})
       GROUP BY type, value
       HAVING latest_confidence >= ${minConfidence} AND max_last_seen_ms >= ${sinceMs}
       ORDER BY max_last_seen_ms DESC, type, value
       LIMIT ${clickHouseLiteral(options.limit)}`,
    );
  }

  async count(): Promise<number> {
    return this.run(async () => {
      const result = await this.client.query({
        query: `SELECT uniqExact(type, value) AS n FROM ${this.table}`,
        format: 'JSONEachRow',
      });
      const [row] = await result.json<{ n: string | number }>();
      return Number(row?.n ?? 0);
    });
  }

  async *streamWindow(from: Date, to: Date, batchSize: number): AsyncGenerator<StoredIoc[]> {
    const fromMs = from.getTime();
    const toMs = to.getTime();
    if (Number.isNaN(fromMs) || Number.isNaN(toMs) || fromMs >= toMs) {
      throw new RangeError('a window needs valid dates with from < to');
    }
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
    }
    let after: { type: string; value: string } | undefined;
    for (;;) {
      // The expanded form, not a tuple comparison: 18.16 narrows the expanded form by the
      // primary key (type, value), so a page reads from the cursor on (measured: 576 rows
      // read instead of 1,000,000 for a cursor near the end); a tuple comparison reads all.
      const cursor = after
        ? `AND (type > ${clickHouseLiteral(after.type)}
                OR (type = ${clickHouseLiteral(after.type)} AND value > ${clickHouseLiteral(after.value)}))`
        : '';
      // Candidates are the next batchSize keys with a sighting in the window; the merged
      // row of each is then aggregated from all its sightings. A candidate whose latest
      // sighting is after the window is not in it, and is left out below, not in SQL:
      // the page's last candidate is the cursor whether or not it is in the window.
      const candidates = await this.select(
        `SELECT ${MERGED_COLUMNS} FROM ${this.table}
         WHERE (type, value) IN (
           SELECT type, value FROM ${this.table}
           WHERE last_seen_ms >= ${clickHouseLiteral(fromMs)}
             AND last_seen_ms < ${clickHouseLiteral(toMs)} ${cursor}
           GROUP BY type, value
           ORDER BY type, value
           LIMIT ${clickHouseLiteral(batchSize)})
         GROUP BY type, value
         ORDER BY type, value`,
      );
      const last = candidates.at(-1);
      if (last === undefined) return;
      const inWindow = candidates.filter((r) => r.last_seen.getTime() < toMs);
      if (inWindow.length > 0) yield inWindow;
      if (candidates.length < batchSize) return;
      after = { type: last.type, value: last.value };
    }
  }

  async windowDays(before: Date, from?: Date): Promise<WindowDay[]> {
    const beforeMs = clickHouseLiteral(before.getTime());
    const since = from === undefined ? '' : ` AND max_ms >= ${clickHouseLiteral(from.getTime())}`;
    // An indicator's day is that of its latest sighting, so all sightings are aggregated
    // per key first. floor(), not intDiv(): 18.16's intDiv of a negative Int64 is wrong.
    const rows = await this.run(async () => {
      const result = await this.client.query({
        query: `SELECT floor(max_ms / ${UTC_DAY_MS}) AS day_number, count() AS n,
                       max(max_inserted) AS version
                FROM (
                  SELECT max(last_seen_ms) AS max_ms, max(toUInt32(inserted_at)) AS max_inserted
                  FROM ${this.table}
                  GROUP BY type, value
                  HAVING max_ms < ${beforeMs}${since})
                GROUP BY day_number
                ORDER BY day_number`,
        format: 'JSONEachRow',
      });
      return result.json<{
        day_number: string | number;
        n: string | number;
        version: string | number;
      }>();
    });
    return rows.map((r) => ({
      day: utcDayOfNumber(Number(r.day_number)),
      rows: Number(r.n),
      version: String(r.version),
    }));
  }

  async versionHighWater(options: { timeoutMs?: number } = {}): Promise<string> {
    const timeoutMs = options.timeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    const serverNow = async () => {
      const [row] = await this.selectRows<{ s: string | number }>('SELECT toUInt32(now()) AS s');
      return Number(row?.s);
    };
    // The mark is a whole second of the server's clock. Once that second is over, every
    // insert stamped with it or earlier has started, and is either done or still running.
    const mark = await serverNow();
    while ((await serverNow()) <= mark) await sleep(100);
    const running = async () =>
      new Set(
        (
          await this.selectRows<{ query_id: string }>(
            `SELECT query_id FROM system.processes
             WHERE lower(query) LIKE '%insert%'
               AND position(query, ${clickHouseLiteral(this.table)}) > 0
               AND position(query, 'system.processes') = 0`,
          )
        ).map((r) => r.query_id),
      );
    let waiting = await running();
    while (waiting.size > 0) {
      if (Date.now() > deadline) {
        throw new TransientError(
          'hot_store_writers_busy',
          `inserts into ${this.table} did not end within ${timeoutMs} ms: ${[...waiting].join(', ')}`,
          { table: this.table },
        );
      }
      await sleep(20);
      const now = await running();
      waiting = new Set([...waiting].filter((id) => now.has(id)));
    }
    return String(mark);
  }

  private async selectRows<T>(query: string): Promise<T[]> {
    return this.run(async () => {
      const result = await this.client.query({ query, format: 'JSONEachRow' });
      return result.json<T>();
    });
  }

  private async select(query: string): Promise<StoredIoc[]> {
    return this.run(async () => {
      const result = await this.client.query({ query, format: 'JSONEachRow' });
      return (await result.json<MergedRow>()).map(toStoredIoc);
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

/** The ClickHouse row of a stored IOC (exported for the direct-insert benchmark baseline). */
export function toSightingRow(ioc: StoredIoc): SightingRow {
  const sources = [...new Set(ioc.sources)].sort();
  const tags = [...new Set(ioc.tags)].sort();
  const firstSeenMs = ioc.first_seen.getTime();
  const lastSeenMs = ioc.last_seen.getTime();
  // The whole record, canonical (sets sorted), hashed: equal records get equal ids and
  // collapse; any difference keeps both. 128 bits make a collision between two different
  // sightings of one indicator (the only place one could matter) negligible.
  const sightingId = createHash('sha256')
    .update(
      JSON.stringify([
        ioc.type,
        ioc.value,
        ioc.threat_type,
        ioc.confidence,
        sources,
        tags,
        firstSeenMs,
        lastSeenMs,
      ]),
    )
    .digest('hex')
    .slice(0, 32);
  return {
    type: ioc.type,
    value: ioc.value,
    threat_type: ioc.threat_type,
    confidence: ioc.confidence,
    sources,
    tags,
    first_seen_ms: firstSeenMs,
    last_seen_ms: lastSeenMs,
    sighting_id: sightingId,
  };
}

/** A merged row as the stored indicator mergeIoc would give. */
export function toStoredIoc(row: MergedRow): StoredIoc {
  return {
    type: row.type as IocType,
    value: row.value,
    threat_type: row.latest_threat_type,
    confidence: row.latest_confidence,
    // groupUniqArray's order is arbitrary; mergeIoc's is a sorted union.
    sources: [...row.all_sources].sort(),
    first_seen: new Date(Number(row.min_first_seen_ms)),
    last_seen: new Date(Number(row.max_last_seen_ms)),
    tags: [...row.all_tags].sort(),
  };
}

/** Batches handed in while a write is in flight go together in the next write. */
class GroupCommit<T> {
  private waiting: { rows: readonly T[]; done: (err?: Error) => void }[] = [];
  private busy = false;

  constructor(
    private readonly maxRows: number,
    private readonly write: (rows: T[]) => Promise<unknown>,
  ) {}

  add(rows: readonly T[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({
        rows,
        done: (err) => (err === undefined ? resolve() : reject(err)),
      });
      if (!this.busy) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.busy = true;
    while (this.waiting.length > 0) {
      const group: typeof this.waiting = [];
      let size = 0;
      while (
        this.waiting.length > 0 &&
        (group.length === 0 || size + this.waiting[0]!.rows.length <= this.maxRows)
      ) {
        const next = this.waiting.shift()!;
        group.push(next);
        size += next.rows.length;
      }
      try {
        await this.write(group.flatMap((g) => g.rows));
        for (const g of group) g.done();
      } catch (err) {
        // this.run throws StowageErrors; anything else is wrapped to keep a stack.
        const error =
          err instanceof Error ? err : new Error('ClickHouse insert failed', { cause: err });
        for (const g of group) g.done(error);
      }
    }
    this.busy = false;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
