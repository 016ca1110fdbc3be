import { createHash } from 'node:crypto';
import type pg from 'pg';
import { UTC_DAY_MS, isUtcDay, utcDayOf } from '../../domain/utc-day.js';
import { TransientError } from '../../errors/index.js';
import { classifyPostgresError } from './classify-postgres-error.js';
import { applySchemaDdl, assertSchemaName } from './postgres-schema-ddl.js';
import type { HotBackendName } from '../../config.js';

/** Object Lock modes an archive may be written with. */
export type ArchiveLockMode = 'COMPLIANCE' | 'GOVERNANCE';

/** One archive generation of a UTC day: what was written, where, and until when it is locked. */
export interface ArchiveLedgerEntry {
  /** 'YYYY-MM-DD' (UTC): the window [day 00:00, next day 00:00) of last_seen. */
  day: string;
  /**
   * 1 for a day's first archive, then one more each time the day changed and was archived
   * again; each generation has keys of its own and holds the whole day as it then was.
   */
  generation: number;
  /**
   * The hot store's version high-water mark (decimal) the generation was read at: it holds
   * every row of the day whose version is at or below it, as that version. Null for days
   * archived before versions existed, which vouch for no row version.
   */
  high_water: string | null;
  window_start: Date;
  window_end: Date;
  /** The hot-store backend the rows were read from. */
  backend: HotBackendName;
  bucket: string;
  rows: number;
  parts: number;
  /** Bytes of the part objects as stored (compressed). */
  bytes: number;
  manifest_key: string;
  manifest_sha256: string;
  manifest_version_id: string | null;
  lock_mode: ArchiveLockMode;
  /** The earliest retain-until of the day's objects: none can be deleted before it. */
  retain_until: Date;
  archived_at: Date;
  job_id: string | null;
}

/** What `record` takes: archived_at defaults to now. */
export type NewArchiveLedgerEntry = Omit<ArchiveLedgerEntry, 'archived_at'> & {
  archived_at?: Date;
};

/** A held per-day lock; release it when the day is done. */
export interface DayLock {
  release(): Promise<void>;
}

const COLUMNS = `to_char(day, 'YYYY-MM-DD') AS day, generation, high_water::text AS high_water,
  window_start, window_end, backend, bucket,
  rows, parts, bytes, manifest_key, manifest_sha256, manifest_version_id, lock_mode,
  retain_until, archived_at, job_id`;

interface LedgerRow extends Omit<ArchiveLedgerEntry, 'rows' | 'parts' | 'bytes'> {
  // bigint arrives as a string from pg; these stay far below 2^53.
  rows: string;
  parts: number;
  bytes: string;
}

const toEntry = (row: LedgerRow): ArchiveLedgerEntry => ({
  ...row,
  rows: Number(row.rows),
  bytes: Number(row.bytes),
});

/** The newest archive generation of a day, as retention and archive.lock read it. */
export interface LatestGeneration {
  generation: number;
  /** The mark, in the version space of `backend` only. */
  high_water: string | null;
  backend: HotBackendName;
  rows: number;
}

/**
 * The archive ledger in PostgreSQL (`<schema>.archive_ledger`): one row per archive
 * generation of a UTC day, written to the WORM bucket and verified. Rows are only ever
 * inserted; retention deletes a hot-store row only when the day's newest generation holds
 * it at its current version.
 */
export class ArchiveLedger {
  private readonly table: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: { schema: string },
  ) {
    // Inlined into DDL and queries (identifiers cannot be parameters).
    assertSchemaName(options.schema);
    this.table = `"${options.schema}".archive_ledger`;
  }

  /** Creates the schema and table when missing, or upgrades an older one (`stowage init`). */
  async init(): Promise<void> {
    await applySchemaDdl(this.pool, this.options.schema, async (client) => {
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.table} (
          day date NOT NULL,
          generation int NOT NULL DEFAULT 1 CHECK (generation >= 1),
          high_water bigint NULL,
          window_start timestamptz NOT NULL,
          window_end timestamptz NOT NULL CHECK (window_end > window_start),
          backend text NOT NULL CHECK (backend IN ('postgres', 'clickhouse')),
          bucket text NOT NULL,
          rows bigint NOT NULL CHECK (rows >= 0),
          parts int NOT NULL CHECK (parts >= 0),
          bytes bigint NOT NULL CHECK (bytes >= 0),
          manifest_key text NOT NULL,
          manifest_sha256 text NOT NULL CHECK (manifest_sha256 ~ '^[0-9a-f]{64}$'),
          manifest_version_id text NULL,
          lock_mode text NOT NULL CHECK (lock_mode IN ('COMPLIANCE', 'GOVERNANCE')),
          retain_until timestamptz NOT NULL,
          archived_at timestamptz NOT NULL DEFAULT now(),
          job_id text NULL,
          PRIMARY KEY (day, generation)
        )`);
      // A ledger of an older Stowage: one row per day, no generations, no high-water mark.
      // Its rows become generation 1 with no mark (so they vouch for no row version).
      const { rows: old } = await client.query(
        `SELECT 1 FROM pg_attribute
         WHERE attrelid = $1::regclass AND attname = 'generation' AND NOT attisdropped`,
        [this.table],
      );
      if (old.length === 0) {
        await client.query(
          `ALTER TABLE ${this.table}
             ADD COLUMN IF NOT EXISTS generation int NOT NULL DEFAULT 1 CHECK (generation >= 1),
             ADD COLUMN IF NOT EXISTS high_water bigint NULL,
             DROP CONSTRAINT IF EXISTS archive_ledger_pkey,
             ADD PRIMARY KEY (day, generation)`,
        );
      }
    });
  }

  /**
   * Records a generation of a day once: true when this call inserted it, false when it was
   * there.
   */
  async record(entry: NewArchiveLedgerEntry): Promise<boolean> {
    if (!isUtcDay(entry.day)) {
      throw new RangeError(`not a YYYY-MM-DD day: ${JSON.stringify(entry.day)}`);
    }
    if (!Number.isSafeInteger(entry.generation) || entry.generation < 1) {
      throw new RangeError(`generation must be a positive integer, got ${entry.generation}`);
    }
    try {
      const { rowCount } = await this.pool.query(
        `INSERT INTO ${this.table} (day, window_start, window_end, backend, bucket, rows, parts,
           bytes, manifest_key, manifest_sha256, manifest_version_id, lock_mode, retain_until,
           archived_at, job_id, generation, high_water)
         VALUES ($1::date, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                 coalesce($14, now()), $15, $16, $17::bigint)
         ON CONFLICT (day, generation) DO NOTHING`,
        [
          entry.day,
          entry.window_start.toISOString(),
          entry.window_end.toISOString(),
          entry.backend,
          entry.bucket,
          entry.rows,
          entry.parts,
          entry.bytes,
          entry.manifest_key,
          entry.manifest_sha256,
          entry.manifest_version_id,
          entry.lock_mode,
          entry.retain_until.toISOString(),
          entry.archived_at?.toISOString() ?? null,
          entry.job_id,
          entry.generation,
          entry.high_water,
        ],
      );
      return rowCount === 1;
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /**
   * The entry of a day's newest generation (or of the generation asked for), or undefined
   * when there is none.
   */
  async get(day: string, generation?: number): Promise<ArchiveLedgerEntry | undefined> {
    if (!isUtcDay(day)) throw new RangeError(`not a YYYY-MM-DD day: ${JSON.stringify(day)}`);
    try {
      const { rows } = await this.pool.query<LedgerRow>(
        `SELECT ${COLUMNS} FROM ${this.table}
         WHERE day = $1::date AND ($2::int IS NULL OR generation = $2::int)
         ORDER BY generation DESC
         LIMIT 1`,
        [day, generation ?? null],
      );
      return rows[0] === undefined ? undefined : toEntry(rows[0]);
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /** Archived days ('YYYY-MM-DD') whose window overlaps [from, to). */
  async archivedDays(from: Date, to: Date): Promise<Set<string>> {
    return new Set((await this.latestGenerations(from, to)).keys());
  }

  /** The newest generation of each archived day ('YYYY-MM-DD') whose window overlaps [from, to). */
  async latestGenerations(from: Date, to: Date): Promise<Map<string, LatestGeneration>> {
    if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime())) {
      throw new RangeError('latestGenerations needs valid dates');
    }
    // Day d's window [d, d + 1 day) overlaps [from, to) when d >= from's day and d < to
    // rounded up to a day.
    const firstDay = utcDayOf(from);
    const endDay = utcDayOf(new Date(Math.ceil(to.getTime() / UTC_DAY_MS) * UTC_DAY_MS));
    try {
      const { rows } = await this.pool.query<{
        day: string;
        generation: number;
        high_water: string | null;
        backend: HotBackendName;
        rows: string;
      }>(
        `SELECT DISTINCT ON (day) to_char(day, 'YYYY-MM-DD') AS day, generation,
                high_water::text AS high_water, backend, rows
         FROM ${this.table}
         WHERE day >= $1::date AND day < $2::date
         ORDER BY day, generation DESC`,
        [firstDay, endDay],
      );
      return new Map(
        rows.map((r) => [
          r.day,
          {
            generation: r.generation,
            high_water: r.high_water,
            backend: r.backend,
            rows: Number(r.rows),
          },
        ]),
      );
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /**
   * Takes the day's session-level advisory lock on a connection of its own, or throws a
   * TransientError when another worker holds it: two jobs archiving one day at once would
   * each put locked versions of every object. A crashed holder's lock goes with its
   * connection.
   */
  async lockDay(day: string): Promise<DayLock> {
    if (!isUtcDay(day)) throw new RangeError(`not a YYYY-MM-DD day: ${JSON.stringify(day)}`);
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw classifyPostgresError(err);
    }
    const key = lockKey(`stowage:archive:${this.options.schema}:${day}`);
    try {
      const { rows } = await client.query<{ locked: boolean }>(
        'SELECT pg_try_advisory_lock($1::bigint) AS locked',
        [key],
      );
      if (rows[0]?.locked !== true) {
        throw new TransientError(
          'archive_day_busy',
          `another worker is archiving ${day}; this job retries later`,
          { day },
        );
      }
    } catch (err) {
      client.release();
      throw classifyPostgresError(err);
    }
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        try {
          await client.query('SELECT pg_advisory_unlock($1::bigint)', [key]);
          client.release();
        } catch {
          // A connection that cannot unlock is dropped, which releases the lock as well.
          client.release(true);
        }
      },
    };
  }
}

/** A 64-bit advisory lock id: two days (or schemas) colliding is not a practical concern. */
function lockKey(name: string): string {
  return createHash('sha256').update(name).digest().readBigInt64BE(0).toString();
}
