import type pg from 'pg';
import type { CanonicalRecord, StoredRecord } from '../../domain/storage-record.js';
import type { ExpiredRecord, RecordPosition, RecordStore } from '../hot/record-store.js';
import { classifyPostgresError } from './classify-postgres-error.js';
import { applySchemaDdl, assertSchemaName } from './postgres-schema-ddl.js';

/**
 * Seed 002's records in PostgreSQL (`records`): one row per id (ON CONFLICT DO NOTHING, the
 * first write kept), the record kept as its canonical JSON text so that what is answered is
 * byte for byte what was archived and digested.
 */
export class PostgresRecordStore implements RecordStore {
  readonly backend = 'postgres' as const;
  private readonly table: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: { schema: string },
  ) {
    assertSchemaName(options.schema);
    this.table = `"${options.schema}".records`;
  }

  async init(): Promise<void> {
    await applySchemaDdl(this.pool, this.options.schema, async (client) => {
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.table} (
          id text COLLATE "C" PRIMARY KEY,
          ts timestamptz NOT NULL,
          digest text NOT NULL,
          record text NOT NULL,
          inserted_at timestamptz NOT NULL DEFAULT now()
        )`);
      // Retention pages through the oldest rows in (ts, id) order.
      await client.query(`CREATE INDEX IF NOT EXISTS records_ts_idx ON ${this.table} (ts, id)`);
    });
  }

  async insert(records: readonly CanonicalRecord[]): Promise<{ written: number }> {
    if (records.length === 0) return { written: 0 };
    return this.run(async () => {
      const { rowCount } = await this.pool.query(
        `INSERT INTO ${this.table} (id, ts, digest, record)
         SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[])
         ON CONFLICT (id) DO NOTHING`,
        [
          records.map((r) => r.record.id),
          records.map((r) => r.record.timestamp),
          records.map((r) => r.digest),
          records.map((r) => r.line),
        ],
      );
      return { written: rowCount ?? 0 };
    });
  }

  async get(id: string): Promise<{ record: StoredRecord; digest: string } | undefined> {
    return this.run(async () => {
      const { rows } = await this.pool.query<{ record: string; digest: string }>(
        `SELECT record, digest FROM ${this.table} WHERE id = $1`,
        [id],
      );
      const row = rows[0];
      return row && { record: JSON.parse(row.record) as StoredRecord, digest: row.digest };
    });
  }

  async expired(cutoff: Date, limit: number, after?: RecordPosition): Promise<ExpiredRecord[]> {
    const params: unknown[] = [cutoff.toISOString(), limit];
    let where = 'ts < $1::timestamptz';
    if (after !== undefined) {
      params.push(after.timestamp, after.id);
      where += ' AND (ts, id) > ($3::timestamptz, $4)';
    }
    return this.run(async () => {
      const { rows } = await this.pool.query<{ id: string; ts: Date }>(
        `SELECT id, ts FROM ${this.table} WHERE ${where} ORDER BY ts, id LIMIT $2`,
        params,
      );
      return rows.map((r) => ({ id: r.id, timestamp: r.ts.toISOString() }));
    });
  }

  async delete(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    return this.run(async () => {
      const { rowCount } = await this.pool.query(
        `DELETE FROM ${this.table} WHERE id = ANY($1::text[])`,
        [ids],
      );
      return rowCount ?? 0;
    });
  }

  async count(): Promise<number> {
    return this.run(async () => {
      const { rows } = await this.pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM ${this.table}`,
      );
      return Number(rows[0]?.n ?? 0);
    });
  }

  async rowsOf(id: string): Promise<number> {
    return this.run(async () => {
      const { rows } = await this.pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM ${this.table} WHERE id = $1`,
        [id],
      );
      return Number(rows[0]?.n ?? 0);
    });
  }

  private async run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }
}
