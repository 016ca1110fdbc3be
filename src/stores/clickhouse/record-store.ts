import type { ClickHouseClient } from '@clickhouse/client';
import type { CanonicalRecord, StoredRecord } from '../../domain/storage-record.js';
import { utcDayOf } from '../../domain/utc-day.js';
import type { ExpiredRecord, RecordPosition, RecordStore } from '../hot/record-store.js';
import { classifyClickHouseError, clickHouseErrorCode } from './classify-clickhouse-error.js';
import { chunkByLength, clickHouseIdentifier, clickHouseLiteral } from './clickhouse-sql.js';
import { mutationIds, waitForMutations, type MutationWait } from './mutations.js';

const TABLE = 'records';

// Inlined id text per query, well under max_query_size (256 KiB).
const MAX_INLINED_CHARS = 60_000;

// TABLE_ALREADY_EXISTS, DATABASE_ALREADY_EXISTS: another process won a concurrent init.
const ALREADY_EXISTS = new Set([57, 82]);

// One record is one row per id (the sorting key, so ReplacingMergeTree collapses a replay
// that raced the check below). `ver` falls as the server's clock rises, so the collapse keeps
// the earliest write, and reads take the row of the highest `ver` until the merge. Kept to
// ClickHouse 18.16's SQL: times are Int64 milliseconds, partitions by month of the record.
const TABLE_COLUMNS = `
  day Date,
  id String,
  timestamp_ms Int64,
  digest String,
  record String,
  ver UInt32 MATERIALIZED 4294967295 - toUInt32(now())`;

/**
 * Seed 002's records in ClickHouse: the record kept as its canonical JSON text, one row per
 * id (an insert leaves out ids already stored: the first write wins). Retention deletes are
 * mutations, waited for in system.mutations (18.16 has no mutations_sync).
 */
export class ClickHouseRecordStore implements RecordStore {
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

  async init(): Promise<void> {
    await this.run(async () => {
      await this.createIfMissing(`CREATE DATABASE IF NOT EXISTS ${this.database}`);
      await this.createIfMissing(
        `CREATE TABLE IF NOT EXISTS ${this.table} (${TABLE_COLUMNS})
         ENGINE = ReplacingMergeTree(ver)
         PARTITION BY toYYYYMM(day)
         ORDER BY id`,
      );
    });
  }

  async insert(records: readonly CanonicalRecord[]): Promise<{ written: number }> {
    if (records.length === 0) return { written: 0 };
    return this.run(async () => {
      const stored = await this.storedIds(records.map((r) => r.record.id));
      const fresh = records
        .filter((r) => !stored.has(r.record.id))
        .map((r) => ({
          day: utcDayOf(new Date(r.record.timestamp)),
          id: r.record.id,
          timestamp_ms: Date.parse(r.record.timestamp),
          digest: r.digest,
          record: r.line,
        }));
      if (fresh.length > 0) {
        await this.client.insert({ table: this.table, values: fresh, format: 'JSONEachRow' });
      }
      return { written: fresh.length };
    });
  }

  async get(id: string): Promise<{ record: StoredRecord; digest: string } | undefined> {
    const [row] = await this.select<{ record: string; digest: string }>(
      `SELECT record, digest FROM ${this.table} WHERE id = ${clickHouseLiteral(id)}
       ORDER BY ver DESC LIMIT 1`,
    );
    return row && { record: JSON.parse(row.record) as StoredRecord, digest: row.digest };
  }

  async expired(cutoff: Date, limit: number, after?: RecordPosition): Promise<ExpiredRecord[]> {
    const where = [`timestamp_ms < ${clickHouseLiteral(cutoff.getTime())}`];
    if (after !== undefined) {
      const ts = clickHouseLiteral(Date.parse(after.timestamp));
      where.push(
        `(timestamp_ms > ${ts} OR (timestamp_ms = ${ts} AND id > ${clickHouseLiteral(after.id)}))`,
      );
    }
    const rows = await this.select<{ id: string; timestamp_ms: string | number }>(
      `SELECT id, timestamp_ms FROM ${this.table} WHERE ${where.join(' AND ')}
       ORDER BY timestamp_ms, id
       LIMIT 1 BY id
       LIMIT ${clickHouseLiteral(limit)}`,
    );
    return rows.map((r) => ({
      id: r.id,
      timestamp: new Date(Number(r.timestamp_ms)).toISOString(),
    }));
  }

  async delete(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    return this.run(async () => {
      const present = await this.storedIds(ids);
      if (present.size === 0) return 0;
      const target = { database: this.database, table: TABLE };
      const before = await mutationIds(this.client, target);
      for (const chunk of chunkByLength(
        [...present].map((id) => clickHouseLiteral(id)),
        MAX_INLINED_CHARS,
      )) {
        await this.client.command({
          query: `ALTER TABLE ${this.table} DELETE WHERE id IN (${chunk.join(', ')})`,
        });
      }
      await waitForMutations(this.client, target, before, this.wait);
      return present.size;
    });
  }

  async count(): Promise<number> {
    const [row] = await this.select<{ n: string | number }>(
      `SELECT uniqExact(id) AS n FROM ${this.table}`,
    );
    return Number(row?.n ?? 0);
  }

  async rowsOf(id: string): Promise<number> {
    const [row] = await this.select<{ n: string | number }>(
      `SELECT count() AS n FROM ${this.table} WHERE id = ${clickHouseLiteral(id)}`,
    );
    return Number(row?.n ?? 0);
  }

  /** The ids of `ids` already stored, read in queries under max_query_size. */
  private async storedIds(ids: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    const literals = ids.map((id) => clickHouseLiteral(id));
    for (const chunk of chunkByLength(literals, MAX_INLINED_CHARS)) {
      const result = await this.client.query({
        query: `SELECT DISTINCT id FROM ${this.table} WHERE id IN (${chunk.join(', ')})`,
        format: 'JSONEachRow',
      });
      for (const r of await result.json<{ id: string }>()) found.add(r.id);
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
