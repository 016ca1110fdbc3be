import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { HotBackendName } from '../../config.js';
import { isUtcDay } from '../../domain/utc-day.js';
import { TransientError } from '../../errors/index.js';
import type { ArchiveLockMode, DayLock } from './archive-ledger.js';
import { classifyPostgresError } from './classify-postgres-error.js';
import { applySchemaDdl, assertSchemaName } from './postgres-schema-ddl.js';

/** One archive generation of a UTC day of activity events. */
export interface ActivityArchiveEntry {
  /** 'YYYY-MM-DD' (UTC): the window [day 00:00, next day 00:00) of the events' timestamps. */
  day: string;
  /** 1 for a day's first archive, then one more each time the day was archived again. */
  generation: number;
  /** The hot-store backend the events were read from. */
  backend: HotBackendName;
  bucket: string;
  /** Events (distinct identities) the generation holds. */
  rows: number;
  parts: number;
  /** Bytes of the part objects as stored (compressed). */
  bytes: number;
  manifest_key: string;
  manifest_sha256: string;
  manifest_version_id: string | null;
  lock_mode: ArchiveLockMode;
  /** The earliest retain-until of the generation's objects. */
  retain_until: Date;
  archived_at: Date;
  job_id: string | null;
  /**
   * When retention dropped the day's partition holding exactly this generation's events;
   * null while they are in the hot store. Events that arrive after it are a new generation's.
   */
  dropped_at: Date | null;
}

/** What `record` takes. */
export type NewActivityArchiveEntry = Omit<ActivityArchiveEntry, 'archived_at' | 'dropped_at'>;

/** The newest generation of a day, as activities.archive and retention read it. */
export interface LatestActivityGeneration {
  generation: number;
  backend: HotBackendName;
  rows: number;
  /** Whether retention dropped the partition this generation held. */
  dropped: boolean;
}

const COLUMNS = `to_char(day, 'YYYY-MM-DD') AS day, generation, backend, bucket, rows, parts,
  bytes, manifest_key, manifest_sha256, manifest_version_id, lock_mode, retain_until,
  archived_at, job_id, dropped_at`;

interface Row extends Omit<ActivityArchiveEntry, 'rows' | 'bytes'> {
  // bigint arrives as a string from pg; these stay far below 2^53.
  rows: string;
  bytes: string;
}

/**
 * The ledger of archived activity days (`<schema>.activity_archive_ledger`), apart from the
 * IOC archive ledger (whose semantics are the hot store's row versions): one row per
 * generation of a day, inserted once the generation's objects are written and verified;
 * retention marks the generation whose partition it dropped.
 */
export class ActivityArchiveLedger {
  private readonly table: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: { schema: string },
  ) {
    assertSchemaName(options.schema);
    this.table = `"${options.schema}".activity_archive_ledger`;
  }

  /** Creates the table when missing (`stowage init`). */
  async init(): Promise<void> {
    await applySchemaDdl(this.pool, this.options.schema, async (client) => {
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.table} (
          day date NOT NULL,
          generation int NOT NULL CHECK (generation >= 1),
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
          dropped_at timestamptz NULL,
          PRIMARY KEY (day, generation)
        )`);
    });
  }

  /** Records a generation once: true when this call inserted it, false when it was there. */
  async record(entry: NewActivityArchiveEntry): Promise<boolean> {
    assertDay(entry.day);
    try {
      const { rowCount } = await this.pool.query(
        `INSERT INTO ${this.table} (day, generation, backend, bucket, rows, parts, bytes,
           manifest_key, manifest_sha256, manifest_version_id, lock_mode, retain_until, job_id)
         VALUES ($1::date, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (day, generation) DO NOTHING`,
        [
          entry.day,
          entry.generation,
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
          entry.job_id,
        ],
      );
      return rowCount === 1;
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /** The entry of a day's newest generation, or undefined when it was never archived. */
  async get(day: string): Promise<ActivityArchiveEntry | undefined> {
    assertDay(day);
    try {
      const { rows } = await this.pool.query<Row>(
        `SELECT ${COLUMNS} FROM ${this.table} WHERE day = $1::date
         ORDER BY generation DESC LIMIT 1`,
        [day],
      );
      const row = rows[0];
      return row === undefined
        ? undefined
        : { ...row, rows: Number(row.rows), bytes: Number(row.bytes) };
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /** The newest generation of each archived day in [firstDay, lastDay] ('YYYY-MM-DD'). */
  async latestGenerations(
    firstDay: string,
    lastDay: string,
  ): Promise<Map<string, LatestActivityGeneration>> {
    assertDay(firstDay);
    assertDay(lastDay);
    try {
      const { rows } = await this.pool.query<{
        day: string;
        generation: number;
        backend: HotBackendName;
        rows: string;
        dropped: boolean;
      }>(
        `SELECT DISTINCT ON (day) to_char(day, 'YYYY-MM-DD') AS day, generation, backend, rows,
                dropped_at IS NOT NULL AS dropped
         FROM ${this.table}
         WHERE day >= $1::date AND day <= $2::date
         ORDER BY day, generation DESC`,
        [firstDay, lastDay],
      );
      return new Map(
        rows.map((r) => [
          r.day,
          {
            generation: r.generation,
            backend: r.backend,
            rows: Number(r.rows),
            dropped: r.dropped,
          },
        ]),
      );
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /**
   * Marks a generation as dropped from the hot store (before the drop itself: a drop that
   * then fails leaves the day to be archived once more, never an event unarchived).
   */
  async markDropped(day: string, generation: number): Promise<void> {
    assertDay(day);
    try {
      await this.pool.query(
        `UPDATE ${this.table} SET dropped_at = coalesce(dropped_at, now())
         WHERE day = $1::date AND generation = $2`,
        [day, generation],
      );
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /**
   * Takes the day's advisory lock on a connection of its own, or throws a TransientError when
   * another worker archives the day: two jobs at once would each put locked objects.
   */
  async lockDay(day: string): Promise<DayLock> {
    assertDay(day);
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw classifyPostgresError(err);
    }
    const key = lockKey(`stowage:activity-archive:${this.options.schema}:${day}`);
    try {
      const { rows } = await client.query<{ locked: boolean }>(
        'SELECT pg_try_advisory_lock($1::bigint) AS locked',
        [key],
      );
      if (rows[0]?.locked !== true) {
        throw new TransientError(
          'archive_day_busy',
          `another worker is archiving the activities of ${day}; this job retries later`,
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

function assertDay(day: string): void {
  if (!isUtcDay(day)) throw new RangeError(`not a YYYY-MM-DD day: ${JSON.stringify(day)}`);
}

/** A 64-bit advisory lock id. */
function lockKey(name: string): string {
  return createHash('sha256').update(name).digest().readBigInt64BE(0).toString();
}
