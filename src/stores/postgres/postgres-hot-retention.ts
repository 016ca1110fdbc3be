import type pg from 'pg';
import { utcDayNumberOf, utcDayOfNumber } from '../../domain/utc-day.js';
import { classifyPostgresError } from './classify-postgres-error.js';
import {
  boundedRanges,
  type ArchiveBounds,
  type DeletedBatch,
  type HotRetention,
  type PlannedIndicator,
  type PlannedOutcome,
  type RetentionDay,
} from '../hot/hot-retention.js';

// The largest bigint: the version bound of a window when archiving is off.
const ANY_VERSION = '9223372036854775807';

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

interface DayRow {
  day_number: string;
  n: string;
  archived: string;
  oldest: Date | null;
  newest: Date | null;
}

interface PlannedRow {
  type: string;
  value: string;
  version: string;
  last_seen: Date;
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

  async daysBefore(cutoff: Date, bounds: ArchiveBounds): Promise<RetentionDay[]> {
    const marked = [...(bounds ?? new Map<string, string | null>())].filter(
      (entry): entry is [string, string] => entry[1] !== null,
    );
    try {
      // A range scan of iocs_last_seen_idx; the day number is computed in UTC whatever the
      // session's TimeZone, because epoch seconds have no time zone. A row is archived as
      // it is when its version is at or below its day's high-water mark.
      const { rows } = await this.pool.query<DayRow>(
        `SELECT i.day_number, count(*) AS n,
                count(*) FILTER (WHERE i.archived) AS archived,
                min(i.last_seen) FILTER (WHERE i.archived) AS oldest,
                max(i.last_seen) FILTER (WHERE i.archived) AS newest
         FROM (
           SELECT d.day_number, t.last_seen,
                  coalesce($2::boolean OR t.version <= b.high_water, false) AS archived
           FROM ${this.table} AS t
           CROSS JOIN LATERAL (
             SELECT floor(extract(epoch FROM t.last_seen) / 86400)::bigint AS day_number) AS d
           LEFT JOIN unnest($3::bigint[], $4::bigint[]) AS b(day_number, high_water)
             ON b.day_number = d.day_number
           WHERE t.last_seen < $1) AS i
         GROUP BY 1
         ORDER BY 1`,
        [
          cutoff.toISOString(),
          bounds === undefined,
          marked.map(([day]) => utcDayNumberOf(day)),
          marked.map(([, highWater]) => highWater),
        ],
      );
      return rows.map((r) => ({
        day: utcDayOfNumber(Number(r.day_number)),
        rows: Number(r.n),
        archived: Number(r.archived),
        oldest: r.oldest,
        newest: r.newest,
      }));
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  async deleteBatch(cutoff: Date, bounds: ArchiveBounds, batchSize: number): Promise<DeletedBatch> {
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
    }
    const ranges = boundedRanges(cutoff, bounds);
    if (ranges.length === 0) return { rows: 0, oldest: null, newest: null };
    try {
      // Each day's window is an index range scan in last_seen order (so the dead tuples of
      // earlier batches are skipped, not rescanned), stopped at batchSize; the victims are
      // then deleted by ctid (a TID scan). The delete tests the version again, against the
      // row as it is when deleted: if an upsert changes a victim meanwhile, its new version
      // is above the mark (and has another ctid), and it stays.
      const { rows } = await this.pool.query<DeletedRow>(
        `WITH ranges AS (
           SELECT * FROM unnest($1::timestamptz[], $2::timestamptz[], $5::bigint[])
             AS r(lo, hi, high_water)
         ), victims AS (
           SELECT v.ctid
           FROM ranges AS r
           CROSS JOIN LATERAL (
             SELECT ctid FROM ${this.table}
             WHERE last_seen >= r.lo AND last_seen < r.hi AND version <= r.high_water
             ORDER BY last_seen
             LIMIT $3
           ) AS v
           LIMIT $3
         ), deleted AS (
           DELETE FROM ${this.table} AS t
           WHERE t.ctid = ANY (ARRAY(SELECT ctid FROM victims)) AND t.last_seen < $4
             AND EXISTS (
               SELECT 1 FROM ranges AS r
               WHERE t.last_seen >= r.lo AND t.last_seen < r.hi AND t.version <= r.high_water)
           RETURNING t.last_seen
         )
         SELECT count(*) AS n, min(last_seen) AS oldest, max(last_seen) AS newest FROM deleted`,
        [
          ranges.map((r) => (r.from === null ? '-infinity' : new Date(r.from).toISOString())),
          ranges.map((r) => new Date(r.to).toISOString()),
          batchSize,
          cutoff.toISOString(),
          ranges.map((r) => r.highWater ?? ANY_VERSION),
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

  async planPage(
    cutoff: Date,
    bounds: ArchiveBounds,
    limit: number,
    after?: PlannedIndicator,
  ): Promise<PlannedIndicator[]> {
    const ranges = boundedRanges(cutoff, bounds);
    if (ranges.length === 0) return [];
    try {
      // The same windows and version test as deleteBatch, in (last_seen, type, value) order
      // along iocs_last_seen_idx: a page starts where the previous one ended.
      const { rows } = await this.pool.query<PlannedRow>(
        `WITH ranges AS (
           SELECT * FROM unnest($1::timestamptz[], $2::timestamptz[], $3::bigint[])
             AS r(lo, hi, high_water)
         )
         SELECT t.type, t.value, t.version::text AS version, t.last_seen
         FROM ${this.table} AS t
         WHERE t.last_seen < $4
           AND ($5::timestamptz IS NULL OR (t.last_seen, t.type, t.value) > ($5, $6, $7))
           AND EXISTS (
             SELECT 1 FROM ranges AS r
             WHERE t.last_seen >= r.lo AND t.last_seen < r.hi AND t.version <= r.high_water)
         ORDER BY t.last_seen, t.type, t.value
         LIMIT $8`,
        [
          ranges.map((r) => (r.from === null ? '-infinity' : new Date(r.from).toISOString())),
          ranges.map((r) => new Date(r.to).toISOString()),
          ranges.map((r) => r.highWater ?? ANY_VERSION),
          cutoff.toISOString(),
          after?.lastSeen.toISOString() ?? null,
          after?.type ?? null,
          after?.value ?? null,
          limit,
        ],
      );
      return rows.map((r) => ({
        type: r.type,
        value: r.value,
        state: r.version,
        lastSeen: r.last_seen,
      }));
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  async deletePlanned(items: readonly PlannedIndicator[]): Promise<PlannedOutcome[]> {
    if (items.length === 0) return [];
    try {
      // The version test is the drift check, inside the DELETE: any upsert that changed a row
      // since it was planned gave it a new version, and it stays. The EXISTS reads the
      // statement's snapshot: a planned row that is not deleted but exists drifted; one
      // that does not exist was already gone.
      const { rows } = await this.pool.query<{ n: string; outcome: PlannedOutcome }>(
        `WITH planned AS (
           SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
             WITH ORDINALITY AS p(type, value, version, n)
         ), deleted AS (
           DELETE FROM ${this.table} AS t USING planned AS p
           WHERE t.type = p.type AND t.value = p.value AND t.version = p.version
           RETURNING p.n
         )
         SELECT p.n,
                CASE WHEN EXISTS (SELECT 1 FROM deleted AS d WHERE d.n = p.n) THEN 'deleted'
                     WHEN EXISTS (SELECT 1 FROM ${this.table} AS t
                                  WHERE t.type = p.type AND t.value = p.value) THEN 'drifted'
                     ELSE 'skipped' END AS outcome
         FROM planned AS p ORDER BY p.n`,
        [items.map((i) => i.type), items.map((i) => i.value), items.map((i) => i.state)],
      );
      return rows.map((r) => r.outcome);
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }
}
