import type pg from 'pg';
import { classifyPostgresError } from './classify-postgres-error.js';
import {
  allowedRanges,
  dayOfNumber,
  summarizeRetentionDays,
  type DeletedBatch,
  type HotRetention,
  type HotRetentionPlan,
  type RetentionDay,
} from './hot-retention.js';

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

interface DayRow {
  day_number: string;
  n: string;
  oldest: Date;
  newest: Date;
}

interface DeletedRow {
  n: string;
  oldest: Date | null;
  newest: Date | null;
}

/**
 * Retention over PostgresHotStore's table (`<schema>.iocs`, one row per indicator), by
 * ranges of its last_seen index. Reads and deletes only; the hot store owns the schema.
 */
export class PostgresHotRetention implements HotRetention {
  readonly backend = 'postgres' as const;
  private readonly table: string;

  constructor(
    private readonly pool: pg.Pool,
    options: { schema: string },
  ) {
    // Inlined into the SQL (identifiers cannot be parameters).
    if (!SCHEMA_NAME.test(options.schema)) {
      throw new TypeError(`not a plain PostgreSQL schema name: ${JSON.stringify(options.schema)}`);
    }
    this.table = `"${options.schema}".iocs`;
  }

  async daysBefore(cutoff: Date): Promise<RetentionDay[]> {
    try {
      // A range scan of iocs_last_seen_idx; the day number is computed in UTC whatever the
      // session's TimeZone, because epoch seconds have no time zone.
      const { rows } = await this.pool.query<DayRow>(
        `SELECT floor(extract(epoch FROM last_seen) / 86400)::bigint AS day_number,
                count(*) AS n, min(last_seen) AS oldest, max(last_seen) AS newest
         FROM ${this.table}
         WHERE last_seen < $1
         GROUP BY 1
         ORDER BY 1`,
        [cutoff.toISOString()],
      );
      return rows.map((r) => ({
        day: dayOfNumber(Number(r.day_number)),
        rows: Number(r.n),
        oldest: r.oldest,
        newest: r.newest,
      }));
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  async plan(
    cutoff: Date,
    options: { archivedDays?: ReadonlySet<string> } = {},
  ): Promise<HotRetentionPlan> {
    return summarizeRetentionDays(await this.daysBefore(cutoff), options.archivedDays);
  }

  async deleteBatch(
    cutoff: Date,
    days: ReadonlySet<string> | undefined,
    batchSize: number,
  ): Promise<DeletedBatch> {
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
    }
    const ranges = allowedRanges(cutoff, days);
    if (ranges.length === 0) return { rows: 0, oldest: null, newest: null };
    try {
      // Each allowed range is an index range scan in last_seen order (so the dead tuples of
      // earlier batches are skipped, not rescanned), stopped at batchSize; the victims are
      // then deleted by ctid (a TID scan). If an upsert refreshes a victim meanwhile, its new
      // version has another ctid and is left alone; the last_seen test says so again.
      const { rows } = await this.pool.query<DeletedRow>(
        `WITH victims AS (
           SELECT v.ctid
           FROM unnest($1::timestamptz[], $2::timestamptz[]) AS r(lo, hi)
           CROSS JOIN LATERAL (
             SELECT ctid FROM ${this.table}
             WHERE last_seen >= r.lo AND last_seen < r.hi
             ORDER BY last_seen
             LIMIT $3
           ) AS v
           LIMIT $3
         ), deleted AS (
           DELETE FROM ${this.table}
           WHERE ctid = ANY (ARRAY(SELECT ctid FROM victims)) AND last_seen < $4
           RETURNING last_seen
         )
         SELECT count(*) AS n, min(last_seen) AS oldest, max(last_seen) AS newest FROM deleted`,
        [
          ranges.map((r) => (r.from === null ? '-infinity' : new Date(r.from).toISOString())),
          ranges.map((r) => new Date(r.to).toISOString()),
          batchSize,
          cutoff.toISOString(),
        ],
      );
      const row = rows[0];
      return {
        rows: Number(row?.n ?? 0),
        oldest: row?.oldest ?? null,
        newest: row?.newest ?? null,
      };
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }
}
