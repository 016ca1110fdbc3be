import { createHash } from 'node:crypto';
import type pg from 'pg';
import { isUtcDay } from '../../domain/utc-day.js';
import { TransientError } from '../../errors/index.js';
import type { ArchiveLockMode, DayLock } from './archive-ledger.js';
import { classifyPostgresError } from './classify-postgres-error.js';
import { applySchemaDdl, assertSchemaName } from './postgres-schema-ddl.js';

/** One archive generation of a UTC day of detections. */
export interface DetectionArchiveEntry {
  /** 'YYYY-MM-DD' (UTC): the window [day 00:00, next day 00:00) of the detections' `ts`. */
  day: string;
  /** 1 for a day's first archive, then one more each time the day was archived again. */
  generation: number;
  bucket: string;
  /** Detections the generation holds. */
  rows: number;
  parts: number;
  /** Bytes of the part objects as stored (compressed). */
  bytes: number;
  /**
   * The latest updated_at of the day, read before the first page: a detection updated no
   * later than this is in the generation at its current version (or a newer one). ISO 8601
   * with microseconds, as PostgreSQL holds it: a JavaScript Date would cut it to the
   * millisecond and make every day look changed since its archive.
   */
  high_water: string;
  manifest_key: string;
  manifest_sha256: string;
  manifest_version_id: string | null;
  lock_mode: ArchiveLockMode;
  /** The earliest retain-until of the generation's objects. */
  retain_until: Date;
  archived_at: Date;
  job_id: string | null;
}

/** What `record` takes. */
export type NewDetectionArchiveEntry = Omit<DetectionArchiveEntry, 'archived_at'>;

/** The newest generation of a day, as detections.archive and retention read it. */
export interface LatestDetectionGeneration {
  generation: number;
  rows: number;
  /** ISO 8601 with microseconds. */
  high_water: string;
}

/** A timestamptz as ISO 8601 UTC with microseconds. */
export const MICROS_ISO = (column: string) =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const COLUMNS = `to_char(day, 'YYYY-MM-DD') AS day, generation, bucket, rows, parts, bytes,
  ${MICROS_ISO('high_water')} AS high_water, manifest_key, manifest_sha256, manifest_version_id, lock_mode, retain_until,
  archived_at, job_id`;

interface Row extends Omit<DetectionArchiveEntry, 'rows' | 'bytes'> {
  // bigint arrives as a string from pg; these stay far below 2^53.
  rows: string;
  bytes: string;
}

/**
 * The ledger of archived detection days (`<schema>.detection_archive_ledger`): one row per
 * generation of a day, inserted once the generation's objects are written and verified. Its
 * high-water mark is what retention checks a detection's updated_at against.
 */
export class DetectionArchiveLedger {
  private readonly table: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: { schema: string },
  ) {
    assertSchemaName(options.schema);
    this.table = `"${options.schema}".detection_archive_ledger`;
  }

  /** Creates the table when missing (`stowage init`). */
  async init(): Promise<void> {
    await applySchemaDdl(this.pool, this.options.schema, async (client) => {
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.table} (
          day date NOT NULL,
          generation int NOT NULL CHECK (generation >= 1),
          bucket text NOT NULL,
          rows bigint NOT NULL CHECK (rows >= 0),
          parts int NOT NULL CHECK (parts >= 0),
          bytes bigint NOT NULL CHECK (bytes >= 0),
          high_water timestamptz NOT NULL,
          manifest_key text NOT NULL,
          manifest_sha256 text NOT NULL CHECK (manifest_sha256 ~ '^[0-9a-f]{64}$'),
          manifest_version_id text NULL,
          lock_mode text NOT NULL CHECK (lock_mode IN ('COMPLIANCE', 'GOVERNANCE')),
          retain_until timestamptz NOT NULL,
          archived_at timestamptz NOT NULL DEFAULT now(),
          job_id text NULL,
          PRIMARY KEY (day, generation)
        )`);
    });
  }

  /** Records a generation once: true when this call inserted it, false when it was there. */
  async record(entry: NewDetectionArchiveEntry): Promise<boolean> {
    assertDay(entry.day);
    try {
      const { rowCount } = await this.pool.query(
        `INSERT INTO ${this.table} (day, generation, bucket, rows, parts, bytes, high_water,
           manifest_key, manifest_sha256, manifest_version_id, lock_mode, retain_until, job_id)
         VALUES ($1::date, $2, $3, $4, $5, $6, $7::timestamptz, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (day, generation) DO NOTHING`,
        [
          entry.day,
          entry.generation,
          entry.bucket,
          entry.rows,
          entry.parts,
          entry.bytes,
          entry.high_water,
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
  async get(day: string): Promise<DetectionArchiveEntry | undefined> {
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
  ): Promise<Map<string, LatestDetectionGeneration>> {
    assertDay(firstDay);
    assertDay(lastDay);
    try {
      const { rows } = await this.pool.query<{
        day: string;
        generation: number;
        rows: string;
        high_water: string;
      }>(
        `SELECT DISTINCT ON (day) to_char(day, 'YYYY-MM-DD') AS day, generation, rows,
                ${MICROS_ISO('high_water')} AS high_water
         FROM ${this.table}
         WHERE day >= $1::date AND day <= $2::date
         ORDER BY day, generation DESC`,
        [firstDay, lastDay],
      );
      return new Map(
        rows.map((r) => [
          r.day,
          { generation: r.generation, rows: Number(r.rows), high_water: r.high_water },
        ]),
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
    const key = lockKey(`stowage:detection-archive:${this.options.schema}:${day}`);
    try {
      const { rows } = await client.query<{ locked: boolean }>(
        'SELECT pg_try_advisory_lock($1::bigint) AS locked',
        [key],
      );
      if (rows[0]?.locked !== true) {
        throw new TransientError(
          'archive_day_busy',
          `another worker is archiving the detections of ${day}; this job retries later`,
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
