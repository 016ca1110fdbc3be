import { createHash } from 'node:crypto';
import type pg from 'pg';
import { iocKey, mergeIoc, type IocType, type StoredIoc } from '../../domain/ioc.js';
import type { StagedBatch } from '../../domain/staged-batch.js';
import { UTC_DAY_MS, utcDayOf } from '../../domain/utc-day.js';
import { classifyPostgresError } from './classify-postgres-error.js';
import { TransientError } from '../../errors/index.js';
import type {
  HotStore,
  StagedChanges,
  StagedMergeOptions,
  UpsertResult,
  WindowDay,
} from '../hot/hot-store.js';
import { batchTableOf, readStagedBody } from './batch-store.js';

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

// ~5,000 rows per statement measured fastest for multi-row upserts (notes/postgres.md),
// and keeps each statement's row locks short.
const CHUNK_ROWS = 5_000;

// "C" collation everywhere: byte order, so the "latest" tie-break on threat_type and the
// order of sources/tags do not depend on the database's locale.
const TABLE_COLUMNS = `
  type text COLLATE "C" NOT NULL,
  value text COLLATE "C" NOT NULL,
  threat_type text COLLATE "C" NOT NULL,
  confidence double precision NOT NULL,
  sources text[] COLLATE "C" NOT NULL,
  first_seen timestamptz NOT NULL,
  last_seen timestamptz NOT NULL,
  tags text[] COLLATE "C" NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (type, value)`;

// Times leave PostgreSQL as epoch milliseconds (float8, exact at this size): parsing a
// timestamptz string per row was the largest single cost of reading a batch back in the
// ingest profile (bench/, docs/BENCHMARKS.md).
const SELECT_COLUMNS = `type, value, threat_type, confidence, sources,
  (extract(epoch FROM first_seen) * 1000)::float8 AS first_seen_ms,
  (extract(epoch FROM last_seen) * 1000)::float8 AS last_seen_ms, tags`;

// The UTC day of last_seen, written exactly as in iocs_last_seen_day_idx so that the planner
// matches it (timezone(text, timestamptz) and date(timestamp) are immutable, so indexable).
const LAST_SEEN_DAY = `((last_seen AT TIME ZONE 'UTC')::date)`;

// mergeIoc in SQL, for an INSERT … AS cur whose rows may conflict on (type, value). "b is
// latest" is the row comparison (last_seen, confidence, threat_type) > …, exactly bIsLatest's
// order; the WHERE skips rows the merge would not change, so a replay writes nothing (no new
// tuple, no updated_at or version bump).
const MERGE_ON_CONFLICT = `
       ON CONFLICT (type, value) DO UPDATE SET
         threat_type = CASE
           WHEN (excluded.last_seen, excluded.confidence, excluded.threat_type)
              > (cur.last_seen, cur.confidence, cur.threat_type)
           THEN excluded.threat_type ELSE cur.threat_type END,
         confidence = CASE
           WHEN (excluded.last_seen, excluded.confidence, excluded.threat_type)
              > (cur.last_seen, cur.confidence, cur.threat_type)
           THEN excluded.confidence ELSE cur.confidence END,
         sources = ARRAY(SELECT DISTINCT u.s COLLATE "C"
                         FROM unnest(cur.sources || excluded.sources) AS u(s) ORDER BY 1),
         first_seen = LEAST(cur.first_seen, excluded.first_seen),
         last_seen = GREATEST(cur.last_seen, excluded.last_seen),
         tags = ARRAY(SELECT DISTINCT u.t COLLATE "C"
                      FROM unnest(cur.tags || excluded.tags) AS u(t) ORDER BY 1),
         -- The version the insert drew: a row the merge changes is a new version of it.
         version = excluded.version,
         updated_at = now()
       WHERE excluded.first_seen < cur.first_seen
          OR (excluded.last_seen, excluded.confidence, excluded.threat_type)
           > (cur.last_seen, cur.confidence, cur.threat_type)
          OR NOT excluded.sources <@ cur.sources
          OR NOT excluded.tags <@ cur.tags`;

interface IocRow {
  type: string;
  value: string;
  threat_type: string;
  confidence: number;
  sources: string[];
  first_seen_ms: number;
  last_seen_ms: number;
  tags: string[];
}

/** The hot IOC store in PostgreSQL: one row per (type, value), merged in `INSERT … ON CONFLICT`. */
export class PostgresHotStore implements HotStore {
  readonly backend = 'postgres' as const;
  private readonly schema: string;
  private readonly table: string;
  private readonly versionSequence: string;
  private readonly batchTable: string;

  constructor(
    private readonly pool: pg.Pool,
    options: { schema: string },
  ) {
    // The schema name is inlined into DDL and queries (identifiers cannot be parameters).
    if (!SCHEMA_NAME.test(options.schema)) {
      throw new TypeError(`not a plain PostgreSQL schema name: ${JSON.stringify(options.schema)}`);
    }
    this.schema = options.schema;
    this.table = `"${options.schema}".iocs`;
    this.versionSequence = `"${options.schema}".iocs_version_seq`;
    this.batchTable = batchTableOf(options.schema);
  }

  async init(): Promise<void> {
    let client: pg.PoolClient | undefined;
    let broken = false;
    try {
      client = await this.pool.connect();
      await client.query('BEGIN');
      // CREATE … IF NOT EXISTS is not race-free (two sessions can both pass the check and
      // one then fails on a catalog unique index), so concurrent starts take turns.
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [initLockKey(this.schema)]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${this.schema}"`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${this.table} (${TABLE_COLUMNS})`);
      // Every insert and every merge that changes a row gives it the next value of one
      // sequence: an archive's high-water mark then says which rows it holds as they are now.
      // Added, not declared above, so that a table of an older Stowage gets it too (its rows
      // start at version 0: no archive vouches for them until their day is archived again).
      // Only when missing: ALTER TABLE locks the table out even when it changes nothing.
      await client.query(`CREATE SEQUENCE IF NOT EXISTS ${this.versionSequence} AS bigint`);
      const { rows: versioned } = await client.query(
        `SELECT 1 FROM pg_attribute
         WHERE attrelid = $1::regclass AND attname = 'version' AND atthasdef`,
        [this.table],
      );
      if (versioned.length === 0) {
        await client.query(
          `ALTER TABLE ${this.table} ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 0`,
        );
        await client.query(
          `ALTER TABLE ${this.table}
             ALTER COLUMN version SET DEFAULT nextval('${this.versionSequence}')`,
        );
        await client.query(`ALTER SEQUENCE ${this.versionSequence} OWNED BY ${this.table}.version`);
      }
      // findHot walks this index newest first and filters on confidence; an index led by
      // confidence would not give the last_seen order it returns.
      await client.query(
        `CREATE INDEX IF NOT EXISTS iocs_last_seen_idx ON ${this.table} (last_seen)`,
      );
      // streamWindow pages through one UTC day in (type, value) order: with the day fixed
      // by equality this index returns each page in order from the cursor, instead of a
      // sort of the whole day per page.
      await client.query(
        `CREATE INDEX IF NOT EXISTS iocs_last_seen_day_idx
           ON ${this.table} (${LAST_SEEN_DAY}, type, value)`,
      );
      await client.query('COMMIT');
    } catch (err) {
      await client?.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw classifyPostgresError(err);
    } finally {
      client?.release(broken);
    }
  }

  async upsert(batch: readonly StoredIoc[]): Promise<UpsertResult> {
    const rows = collapseByKey(batch);
    const changed: StoredIoc[] = [];
    try {
      for (let start = 0; start < rows.length; start += CHUNK_ROWS) {
        changed.push(...(await this.upsertChunk(rows.slice(start, start + CHUNK_ROWS))));
      }
    } catch (err) {
      throw classifyPostgresError(err);
    }
    return { written: rows.length, changed };
  }

  /**
   * Merges a staged batch in one statement, the database reading the records straight from
   * the batch store (no record passes through this process), and hands the rows it changed
   * to `beforeCommit` while their row locks are still held: a concurrent merge of the same
   * key waits for this commit, so whatever it then writes to the cache comes after what
   * `beforeCommit` wrote. When `beforeCommit` throws, the merge is rolled back.
   */
  async mergeStaged(
    jobId: string,
    batch: StagedBatch,
    options: StagedMergeOptions,
  ): Promise<{ written: number }> {
    let client: pg.PoolClient | undefined;
    let broken = false;
    let told: StagedChanges | undefined;
    const { signal } = options;
    let cancelled: Promise<unknown> | undefined;
    let stopWatching: (() => void) | undefined;
    try {
      client = await this.pool.connect();
      // pg keeps the session's backend pid (BackendKeyData) without declaring it in its types.
      const pid = (client as unknown as { processID?: unknown }).processID;
      if (signal && typeof pid === 'number') {
        // A statement waiting on a lock would ignore the job's signal until the lock is let go,
        // then commit after the job ended: it is cancelled from another session instead.
        const cancel = () => {
          cancelled = this.pool.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => undefined);
        };
        signal.addEventListener('abort', cancel, { once: true });
        stopWatching = () => signal.removeEventListener('abort', cancel);
      }
      signal?.throwIfAborted();
      await client.query('BEGIN');
      // The body comes back to this process and goes in as one array parameter per column:
      // measured faster than PostgreSQL parsing the JSON itself (jsonb_to_recordset cost
      // 6 ms per 1,000 records, more than the merge).
      const body = await readStagedBody(client, this.batchTable, jobId, batch);
      const records = JSON.parse(body) as StagedRecord[];
      // Sorted by key in byte order, so concurrent merges of overlapping batches lock rows
      // in the same order and cannot deadlock each other. Only hot rows come back whole; of
      // the others, only the key of one that existed (it may be cached and stopped being hot).
      const since = new Date(options.now.getTime() - options.hotRule.maxAgeHours * 3_600_000);
      const { rows } = await client.query<ChangedRow>(
        `WITH merged AS (
           INSERT INTO ${this.table} AS cur
             (type, value, threat_type, confidence, sources, first_seen, last_seen, tags)
           SELECT r.type, r.value, r.threat_type, r.confidence, r.sources::text[],
                  r.first_seen, r.last_seen, r.tags::text[]
           FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::text[],
                       $6::timestamptz[], $7::timestamptz[], $8::text[])
                AS r(type, value, threat_type, confidence, sources, first_seen, last_seen, tags)
           ORDER BY r.type COLLATE "C", r.value COLLATE "C"
           ${MERGE_ON_CONFLICT}
           RETURNING cur.*, (cur.xmax = 0) AS inserted,
             (cur.confidence >= $9 AND cur.last_seen >= $10::timestamptz) AS hot)
         SELECT type, value, hot,
                CASE WHEN hot THEN threat_type END AS threat_type,
                CASE WHEN hot THEN confidence END AS confidence,
                CASE WHEN hot THEN sources END AS sources,
                CASE WHEN hot THEN (extract(epoch FROM first_seen) * 1000)::float8 END
                  AS first_seen_ms,
                CASE WHEN hot THEN (extract(epoch FROM last_seen) * 1000)::float8 END
                  AS last_seen_ms,
                CASE WHEN hot THEN tags END AS tags
         FROM merged WHERE hot OR NOT inserted`,
        [
          records.map((r) => r.type),
          records.map((r) => r.value),
          records.map((r) => r.threat_type),
          records.map((r) => r.confidence),
          records.map((r) => arrayLiteral(r.sources)),
          records.map((r) => r.first_seen),
          records.map((r) => r.last_seen),
          records.map((r) => arrayLiteral(r.tags)),
          options.hotRule.minConfidence,
          since.toISOString(),
        ],
      );
      const changes: StagedChanges = { hot: [], cooled: [] };
      for (const row of rows) {
        if (row.hot) changes.hot.push(toStoredIoc(row as IocRow));
        else changes.cooled.push({ type: row.type as IocType, value: row.value });
      }
      told = changes;
      await options.beforeCommit(changes);
      // A merge stopped after its statement ran rolls back rather than commit.
      signal?.throwIfAborted();
      await client.query('COMMIT');
      return { written: batch.records };
    } catch (err) {
      await client?.query('ROLLBACK').catch(() => {
        broken = true;
      });
      // What beforeCommit wrote may now be ahead of the store (or the commit's fate is
      // unknown): the caller takes it back, which is never stale; the retry writes again.
      if (told !== undefined) await options.afterRollback?.(told).catch(() => undefined);
      throw classifyPostgresError(err);
    } finally {
      stopWatching?.();
      // A cancel may still be on its way to this session: it is closed, never handed on.
      if (cancelled !== undefined) {
        await cancelled;
        broken = true;
      }
      client?.release(broken);
    }
  }

  async get(type: IocType, value: string): Promise<StoredIoc | undefined> {
    try {
      const { rows } = await this.pool.query<IocRow>(
        `SELECT ${SELECT_COLUMNS} FROM ${this.table} WHERE type = $1 AND value = $2`,
        [type, value],
      );
      return rows[0] === undefined ? undefined : toStoredIoc(rows[0]);
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  async getMany(keys: readonly { type: IocType; value: string }[]): Promise<StoredIoc[]> {
    if (keys.length === 0) return [];
    try {
      // Two parallel arrays, zipped by unnest: any number of keys in one statement.
      const { rows } = await this.pool.query<IocRow>(
        `SELECT ${SELECT_COLUMNS} FROM ${this.table}
         WHERE (type, value) IN (SELECT * FROM unnest($1::text[], $2::text[]))
         ORDER BY type, value`,
        [keys.map((k) => k.type), keys.map((k) => k.value)],
      );
      return rows.map(toStoredIoc);
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  async findHot(options: {
    minConfidence: number;
    since: Date;
    limit: number;
  }): Promise<StoredIoc[]> {
    assertLimit(options.limit);
    try {
      const { rows } = await this.pool.query<IocRow>(
        `SELECT ${SELECT_COLUMNS} FROM ${this.table}
         WHERE confidence >= $1 AND last_seen >= $2
         ORDER BY last_seen DESC, type, value
         LIMIT $3`,
        [options.minConfidence, options.since.toISOString(), options.limit],
      );
      return rows.map(toStoredIoc);
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  async count(): Promise<number> {
    try {
      const { rows } = await this.pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM ${this.table}`,
      );
      return Number(rows[0]?.n ?? 0);
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  async *streamWindow(from: Date, to: Date, batchSize: number): AsyncGenerator<StoredIoc[]> {
    assertWindow(from, to, batchSize);
    // A window of exactly one UTC day (the archive's) is a range scan of
    // iocs_last_seen_day_idx, already in order, starting at the cursor. Written against the
    // indexed expression alone: with last_seen's range added too, the planner multiplies
    // the two (correlated) selectivities, expects one row, and walks the primary key.
    const oneDay =
      from.getTime() % UTC_DAY_MS === 0 && to.getTime() - from.getTime() === UTC_DAY_MS;
    const query = oneDay
      ? {
          where: `${LAST_SEEN_DAY} = $1::date`,
          params: [utcDayOf(from)] as unknown[],
          after: `(${LAST_SEEN_DAY}, type, value) > ($1::date, $2::text, $3::text)`,
          order: `${LAST_SEEN_DAY}, type, value`,
        }
      : {
          where: 'last_seen >= $1 AND last_seen < $2',
          params: [from.toISOString(), to.toISOString()] as unknown[],
          after: '(type, value) > ($3::text, $4::text)',
          order: 'type, value',
        };
    let after: { type: string; value: string } | undefined;
    for (;;) {
      const params = after ? [...query.params, after.type, after.value] : [...query.params];
      params.push(batchSize);
      let rows: IocRow[];
      try {
        ({ rows } = await this.pool.query<IocRow>(
          `SELECT ${SELECT_COLUMNS} FROM ${this.table}
           WHERE ${query.where} ${after ? `AND ${query.after}` : ''}
           ORDER BY ${query.order}
           LIMIT $${params.length}`,
          params,
        ));
      } catch (err) {
        throw classifyPostgresError(err);
      }
      const last = rows.at(-1);
      if (last === undefined) return;
      yield rows.map(toStoredIoc);
      if (rows.length < batchSize) return;
      after = { type: last.type, value: last.value };
    }
  }

  async windowDays(before: Date, from?: Date): Promise<WindowDay[]> {
    try {
      const { rows } = await this.pool.query<{ day: string; n: string; version: string }>(
        `SELECT to_char(d, 'YYYY-MM-DD') AS day, n, version FROM (
           SELECT ${LAST_SEEN_DAY} AS d, count(*) AS n, max(version) AS version
           FROM ${this.table}
           WHERE last_seen < $1 AND last_seen >= $2
           GROUP BY 1) AS per_day
         ORDER BY d`,
        [before.toISOString(), from?.toISOString() ?? '-infinity'],
      );
      return rows.map((r) => ({ day: r.day, rows: Number(r.n), version: r.version }));
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  async versionHighWater(options: { timeoutMs?: number } = {}): Promise<string> {
    try {
      // First the last version handed out, then every transaction writing to the table now:
      // a writer takes its table lock before it draws a version (at parse time), so each
      // one that drew a version up to this mark is among them, and once they are gone every
      // such version is committed (or rolled back) and visible to whoever reads next.
      const { rows } = await this.pool.query<{ mark: string }>(
        `SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS mark
         FROM ${this.versionSequence}`,
      );
      await waitForWriters(this.pool, this.table, options.timeoutMs ?? 60_000);
      return rows[0]?.mark ?? '0';
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /** Upserts one chunk; returns the rows it inserted or changed, as they now are. */
  private async upsertChunk(rows: readonly StoredIoc[]): Promise<StoredIoc[]> {
    // One parameter per column, each an array (unnest zips them into rows), so any number
    // of rows costs eight parameters and no value is ever spliced into the SQL text.
    // sources and tags travel as one JSON array per row: PostgreSQL arrays cannot be
    // ragged, so text[][] could not carry them.
    const result = await this.pool.query<IocRow>(
      `INSERT INTO ${this.table} AS cur
         (type, value, threat_type, confidence, sources, first_seen, last_seen, tags)
       SELECT r.type, r.value, r.threat_type, r.confidence,
              ARRAY(SELECT jsonb_array_elements_text(r.sources::jsonb)),
              r.first_seen, r.last_seen,
              ARRAY(SELECT jsonb_array_elements_text(r.tags::jsonb))
       FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::text[],
                   $6::timestamptz[], $7::timestamptz[], $8::text[])
            WITH ORDINALITY AS r(type, value, threat_type, confidence, sources,
                                 first_seen, last_seen, tags, ord)
       ORDER BY r.ord
       ${MERGE_ON_CONFLICT}
       RETURNING ${SELECT_COLUMNS}`,
      [
        rows.map((r) => r.type),
        rows.map((r) => r.value),
        rows.map((r) => r.threat_type),
        rows.map((r) => r.confidence),
        rows.map((r) => JSON.stringify(sortedSet(r.sources))),
        rows.map((r) => r.first_seen.toISOString()),
        rows.map((r) => r.last_seen.toISOString()),
        rows.map((r) => JSON.stringify(sortedSet(r.tags))),
      ],
    );
    return result.rows.map(toStoredIoc);
  }
}

/**
 * One record per key (ON CONFLICT cannot touch a row twice in one statement), in key
 * order: concurrent upserts of overlapping batches then lock rows in the same order and
 * cannot deadlock each other.
 */
/** A record of a staged batch (its canonical JSON: times as ISO strings, sets sorted). */
interface StagedRecord {
  type: string;
  value: string;
  threat_type: string;
  confidence: number;
  sources: string[];
  first_seen: string;
  last_seen: string;
  tags: string[];
}

/** A PostgreSQL array literal of strings (`{"a","b\\"c"}`), cast with ::text[] in SQL. */
function arrayLiteral(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
}

/** A row mergeStaged returns: whole when hot, else only its key. */
interface ChangedRow extends Partial<Omit<IocRow, 'type' | 'value'>> {
  type: string;
  value: string;
  hot: boolean;
}

function collapseByKey(batch: readonly StoredIoc[]): StoredIoc[] {
  const byKey = new Map<string, StoredIoc>();
  for (const ioc of batch) {
    const key = iocKey(ioc);
    const existing = byKey.get(key);
    byKey.set(key, existing ? mergeIoc(existing, ioc) : ioc);
  }
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
}

function sortedSet(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}

function toStoredIoc(row: IocRow): StoredIoc {
  return {
    type: row.type as IocType,
    value: row.value,
    threat_type: row.threat_type,
    confidence: row.confidence,
    // Byte order in the table; mergeIoc's order (UTF-16 code units) differs only past U+FFFF.
    sources: [...row.sources].sort(),
    first_seen: new Date(row.first_seen_ms),
    last_seen: new Date(row.last_seen_ms),
    tags: [...row.tags].sort(),
  };
}

function assertWindow(from: Date, to: Date, batchSize: number): void {
  if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()) || from >= to) {
    throw new RangeError('a window needs valid dates with from < to');
  }
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  }
}

function assertLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new RangeError(`limit must be a non-negative integer, got ${limit}`);
  }
}

/**
 * Waits until every transaction that holds a write lock on `table` now has ended (as
 * CREATE INDEX CONCURRENTLY waits for older writers); later writers are not waited for.
 * A transient error after timeoutMs: a session left idle in a transaction holds it up.
 */
export async function waitForWriters(
  pool: pg.Pool,
  table: string,
  timeoutMs: number,
): Promise<void> {
  const holders = `SELECT DISTINCT virtualtransaction FROM pg_locks
    WHERE locktype = 'relation' AND relation = $1::regclass AND granted
      AND mode = 'RowExclusiveLock' AND pid <> pg_backend_pid()`;
  const { rows } = await pool.query<{ virtualtransaction: string }>(holders, [table]);
  let waiting = new Set(rows.map((r) => r.virtualtransaction));
  const deadline = Date.now() + timeoutMs;
  while (waiting.size > 0) {
    if (Date.now() > deadline) {
      throw new TransientError(
        'hot_store_writers_busy',
        `transactions writing to ${table} did not end within ${timeoutMs} ms: ${[...waiting].join(', ')}`,
        { table },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    // A transaction holds the lock on its own virtual id until it ends.
    const { rows: live } = await pool.query<{ virtualxid: string }>(
      `SELECT virtualxid FROM pg_locks
       WHERE locktype = 'virtualxid' AND virtualxid = ANY ($1::text[])`,
      [[...waiting]],
    );
    waiting = new Set(live.map((r) => r.virtualxid));
  }
}

/** A 64-bit advisory lock id per schema, so two stores in different schemas never wait on each other. */
function initLockKey(schema: string): string {
  const digest = createHash('sha256').update(`stowage:hot-store:init:${schema}`).digest();
  return digest.readBigInt64BE(0).toString();
}
