import type pg from 'pg';
import type { StoredActivity } from '../../domain/activity.js';
import type { StagedBatch } from '../../domain/staged-batch.js';
import { UTC_DAY_MS, utcDayOf } from '../../domain/utc-day.js';
import { TransientError } from '../../errors/index.js';
import type {
  ActivityCount,
  ActivityDay,
  ActivityQuery,
  ActivityStore,
  RetiredActivityDay,
} from '../hot/activity-store.js';
import { batchTableOf, readStagedBody } from './batch-store.js';
import { classifyPostgresError } from './classify-postgres-error.js';
import { applySchemaDdl, assertSchemaName } from './postgres-schema-ddl.js';

// SQLSTATE of "no partition of relation found for row" (a day dropped meanwhile).
const NO_PARTITION = '23514';
// SQLSTATE of "relation does not exist".
// How long retireDay waits for inserts holding the day's partition before it gives up.
const RETIRE_LOCK_TIMEOUT_MS = 10_000;
const UNDEFINED_TABLE = '42P01';

/** The partition of a UTC day: `activities_p20260101`. */
const partitionName = (day: string) => `activities_p${day.replaceAll('-', '')}`;

/**
 * Activity events in PostgreSQL (`activities`): a table partitioned by range on the
 * event's timestamp, one partition a UTC day, created on demand by the insert that first
 * needs it. The primary key (source, ts, event_id) includes the partition key, so an event
 * is one row per (source, timestamp, event_id): a replay inserts nothing (ON CONFLICT DO
 * NOTHING, the first write kept); the same event_id at another instant is another event.
 */
export class PostgresActivityStore implements ActivityStore {
  readonly backend = 'postgres' as const;
  private readonly schema: string;
  private readonly table: string;
  private readonly batchTable: string;
  /** Days this process knows have a partition (the catalog is asked for the others). */
  private readonly knownDays = new Set<string>();

  constructor(
    private readonly pool: pg.Pool,
    options: { schema: string },
  ) {
    assertSchemaName(options.schema);
    this.schema = options.schema;
    this.table = `"${options.schema}".activities`;
    this.batchTable = batchTableOf(options.schema);
  }

  async init(): Promise<void> {
    await applySchemaDdl(this.pool, this.schema, async (client) => {
      // "C" collation: ids and sources sort as bytes, as ClickHouse and the cursor do.
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.table} (
          source text COLLATE "C" NOT NULL,
          ts timestamptz NOT NULL,
          event_id text COLLATE "C" NOT NULL,
          event_type text NOT NULL,
          record jsonb NOT NULL,
          inserted_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (source, ts, event_id)
        ) PARTITION BY RANGE (ts)`);
      // The primary key serves a search of one source in (ts, event_id) order; this one a
      // search of every source.
      await client.query(
        `CREATE INDEX IF NOT EXISTS activities_ts_idx ON ${this.table} (ts, event_id, source)`,
      );
      // A search by event type (any source) in page order: without it a rare type read the
      // whole window (1,000,000 events over 7 days: 0.7 s, docs/SEARCH.md).
      await client.query(
        `CREATE INDEX IF NOT EXISTS activities_event_type_ts_idx
         ON ${this.table} (event_type, ts, event_id, source)`,
      );
    });
  }

  async insert(records: readonly StoredActivity[]): Promise<{ written: number }> {
    if (records.length === 0) return { written: 0 };
    return this.withPartitions(records, async () => {
      // The batch goes as one JSON text the server splits: five array parameters (a jsonb[]
      // of records escaped into an array literal) cost the client more than the insert.
      const { rowCount } = await this.pool.query(this.insertSql('$1::jsonb'), [
        JSON.stringify(records),
      ]);
      return { written: rowCount ?? 0 };
    });
  }

  /**
   * Inserts a staged batch without it leaving the database: one statement reads the batch,
   * checks its record count and SHA-256 against the job's digest and inserts its records. A
   * batch that inserted nothing (a replay, or one missing or altered) is then read and
   * checked here, which names the refusal (PermanentError) or confirms the replay. A day
   * without a partition fails the statement; the batch's days are then read from it, made,
   * and the insert runs once more.
   */
  async insertStaged(jobId: string, batch: StagedBatch): Promise<{ written: number }> {
    const staged = `(SELECT b.body::jsonb FROM ${this.batchTable} AS b
      WHERE b.job_id = $1 AND b.digest = $2 AND b.records = $3
        AND encode(sha256(convert_to(b.body, 'UTF8')), 'hex') = $2)`;
    const params = [jobId, batch.digest, batch.records];
    const run = async () => {
      const { rowCount } = await this.pool.query(this.insertSql(staged), params);
      return rowCount ?? 0;
    };
    try {
      let written: number;
      try {
        written = await run();
      } catch (err) {
        if ((err as { code?: string }).code !== NO_PARTITION) throw err;
        const { rows } = await this.pool.query<{ day: string }>(
          `SELECT DISTINCT to_char((e->>'timestamp')::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day
           FROM jsonb_array_elements(${staged}) AS e`,
          params,
        );
        written = await this.withPartitionsOfDays(
          rows.map((r) => r.day),
          run,
        );
      }
      if (written === 0) await this.loadStaged(jobId, batch);
      return { written };
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  async search(query: ActivityQuery): Promise<StoredActivity[]> {
    const params: unknown[] = [query.start.toISOString(), query.end.toISOString()];
    const where = ['ts >= $1::timestamptz', 'ts < $2::timestamptz'];
    if (query.source !== undefined) {
      params.push(query.source);
      where.push(`source = $${params.length}`);
    }
    if (query.event_type !== undefined) {
      params.push(query.event_type);
      where.push(`event_type = $${params.length}`);
    }
    if (query.after !== undefined) {
      params.push(query.after.timestamp, query.after.event_id, query.after.source);
      const n = params.length;
      where.push(`(ts, event_id, source) > ($${n - 2}::timestamptz, $${n - 1}, $${n})`);
    }
    params.push(query.limit);
    try {
      const { rows } = await this.pool.query<{ record: StoredActivity }>(
        `SELECT record FROM ${this.table} WHERE ${where.join(' AND ')}
         ORDER BY ts, event_id, source LIMIT $${params.length}`,
        params,
      );
      return rows.map((r) => r.record);
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  async stats(window: { start: Date; end: Date }): Promise<ActivityCount[]> {
    try {
      const { rows } = await this.pool.query<{ source: string; event_type: string; n: string }>(
        `SELECT source, event_type, count(*) AS n FROM ${this.table}
         WHERE ts >= $1::timestamptz AND ts < $2::timestamptz
         GROUP BY source, event_type ORDER BY source, event_type`,
        [window.start.toISOString(), window.end.toISOString()],
      );
      return rows.map((r) => ({ source: r.source, event_type: r.event_type, count: Number(r.n) }));
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  async days(): Promise<string[]> {
    try {
      const { rows } = await this.pool.query<{ name: string }>(
        `SELECT c.relname AS name FROM pg_inherits i
         JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = to_regclass($1) ORDER BY c.relname`,
        [this.table],
      );
      return rows.flatMap((r) => {
        const m = /^activities_p(\d{4})(\d{2})(\d{2})$/.exec(r.name);
        return m ? [`${m[1]}-${m[2]}-${m[3]}`] : [];
      });
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  async dayCounts(before: string): Promise<ActivityDay[]> {
    const days = (await this.days()).filter((d) => d < before);
    if (days.length === 0) return [];
    try {
      const { rows } = await this.pool.query<{ day: string; n: string }>(
        `SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*) AS n
         FROM ${this.table} WHERE ts < $1::timestamptz GROUP BY 1`,
        [`${before}T00:00:00Z`],
      );
      const counts = new Map(rows.map((r) => [r.day, Number(r.n)]));
      return days.map((day) => ({ day, rows: counts.get(day) ?? 0 }));
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /**
   * One transaction: the day's partition locked ACCESS EXCLUSIVE, counted, compared, then
   * detached and dropped. The parent is locked first, as inserts lock it: locking the
   * partition first would deadlock with an insert into the day, which holds the parent and
   * waits for the partition while DETACH waits for the parent. Activity reads and writes
   * wait for the count of one day; an insert into the dropped day then fails as transient
   * and its retry creates the partition again, so the event is kept for the next archive.
   */
  async retireDay(
    day: string,
    expectedRows: number | null,
    beforeDrop: (rows: number) => Promise<void>,
  ): Promise<RetiredActivityDay> {
    const partition = `"${this.schema}".${partitionName(day)}`;
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw classifyPostgresError(err);
    }
    let broken = false;
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL lock_timeout = ${RETIRE_LOCK_TIMEOUT_MS}`);
      const { rows: present } = await client.query<{ oid: string | null }>(
        'SELECT to_regclass($1)::text AS oid',
        [partition],
      );
      if (present[0]?.oid == null) {
        await client.query('ROLLBACK');
        return { day, rows: 0, dropped: false };
      }
      await client.query(`LOCK TABLE ONLY ${this.table} IN ACCESS EXCLUSIVE MODE`);
      await client.query(`LOCK TABLE ${partition} IN ACCESS EXCLUSIVE MODE`);
      const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${partition}`);
      const n = Number(rows[0]?.n ?? 0);
      if (expectedRows !== null && n !== expectedRows) {
        await client.query('ROLLBACK');
        return { day, rows: n, dropped: false };
      }
      await beforeDrop(n);
      await client.query(`ALTER TABLE ${this.table} DETACH PARTITION ${partition}`);
      await client.query(`DROP TABLE ${partition}`);
      await client.query('COMMIT');
      this.knownDays.delete(day);
      return { day, rows: n, dropped: true };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw classifyPostgresError(err);
    } finally {
      client.release(broken);
    }
  }

  async count(): Promise<number> {
    try {
      const { rows } = await this.pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM ${this.table}`,
      );
      return Number(rows[0]?.n ?? 0);
    } catch (err) {
      if ((err as { code?: string }).code === UNDEFINED_TABLE) return 0;
      throw classifyPostgresError(err);
    }
  }

  /** The insert of the records of a JSON array (`batch`: an SQL expression of type jsonb). */
  private insertSql(batch: string): string {
    // One set-based statement; sorted by key so concurrent inserts of overlapping batches
    // take their index locks in one order. Each element is stored as it is (the record).
    return `INSERT INTO ${this.table} (source, ts, event_id, event_type, record)
      SELECT r.source, r.ts, r.event_id, r.event_type, r.record
      FROM jsonb_array_elements(${batch}) AS e(record),
        LATERAL (SELECT e.record->>'source' AS source, (e.record->>'timestamp')::timestamptz AS ts,
                        e.record->>'event_id' AS event_id, e.record->>'event_type' AS event_type,
                        e.record) AS r
      ORDER BY r.source COLLATE "C", r.ts, r.event_id COLLATE "C"
      ON CONFLICT DO NOTHING`;
  }

  private async loadStaged(jobId: string, batch: StagedBatch): Promise<StoredActivity[]> {
    try {
      const body = await readStagedBody(this.pool, this.batchTable, jobId, batch);
      return JSON.parse(body) as StoredActivity[];
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /**
   * Runs an insert after making sure every day it touches has its partition. The DDL runs
   * in its own short transaction (CREATE TABLE … PARTITION OF locks the parent), under an
   * advisory lock so concurrent creators take turns and the second finds it there. A day
   * dropped by retention between the check and the insert fails the insert: the cache is
   * cleared and the error is transient (the retry creates the partition again).
   */
  private async withPartitions<T>(
    records: readonly StoredActivity[],
    insert: () => Promise<T>,
  ): Promise<T> {
    return this.withPartitionsOfDays(
      [...new Set(records.map((r) => utcDayOf(new Date(r.timestamp))))],
      insert,
    );
  }

  /** withPartitions for the UTC days (`YYYY-MM-DD`) an insert touches. */
  private async withPartitionsOfDays<T>(
    days: readonly string[],
    insert: () => Promise<T>,
  ): Promise<T> {
    try {
      await this.ensurePartitions(days.filter((d) => !this.knownDays.has(d)));
      return await insert();
    } catch (err) {
      if ((err as { code?: string }).code === NO_PARTITION) {
        this.knownDays.clear();
        throw new TransientError('backend_error', 'an activity day partition went missing', {
          days: days.join(','),
        });
      }
      throw classifyPostgresError(err);
    }
  }

  private async ensurePartitions(days: readonly string[]): Promise<void> {
    if (days.length === 0) return;
    const { rows } = await this.pool.query<{ day: string; present: boolean }>(
      `SELECT d AS day, to_regclass(format('%I.%I', $1::text, 'activities_p' || replace(d, '-', '')))
                IS NOT NULL AS present
       FROM unnest($2::text[]) AS d`,
      [this.schema, days],
    );
    const missing = rows.filter((r) => !r.present).map((r) => r.day);
    if (missing.length > 0) {
      const client = await this.pool.connect();
      let broken = false;
      try {
        await client.query('BEGIN');
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
          `stowage:activities:${this.schema}`,
        ]);
        for (const day of missing.sort()) {
          const start = Date.parse(`${day}T00:00:00Z`);
          const from = new Date(start).toISOString();
          const to = new Date(start + UTC_DAY_MS).toISOString();
          await client.query(
            `CREATE TABLE IF NOT EXISTS "${this.schema}".${partitionName(day)}
             PARTITION OF ${this.table} FOR VALUES FROM ('${from}') TO ('${to}')`,
          );
        }
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        throw err;
      } finally {
        client.release(broken);
      }
    }
    for (const day of days) this.knownDays.add(day);
  }
}
