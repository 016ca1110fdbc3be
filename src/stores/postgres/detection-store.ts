import type pg from 'pg';
import {
  canTransition,
  DETECTION_STATUSES,
  SEVERITIES,
  type DetectionStatus,
  type Severity,
} from '../../domain/detection.js';
import type { ActivitySource } from '../../domain/activity-source.js';
import type { IocType } from '../../domain/ioc.js';
import { classifyPostgresError } from './classify-postgres-error.js';
import { applySchemaDdl, assertSchemaName } from './postgres-schema-ddl.js';

/** A detection as stored: the detector's fields, its workflow state and when it changed. */
export interface StoredDetection {
  detection_id: string;
  timestamp: Date;
  ioc_value: string;
  ioc_type: IocType;
  activity_event_id: string;
  activity_source: ActivitySource;
  severity: Severity;
  confidence: number;
  first_seen: Date;
  last_seen: Date;
  status: DetectionStatus;
  case_id: string | null;
  created_at: Date;
  updated_at: Date;
}

/** One status change: who moved the detection from what to what, when, under which case. */
export interface DetectionStatusChange {
  id: number;
  detection_id: string;
  from_status: DetectionStatus;
  to_status: DetectionStatus;
  /** The detection's case id after the change. */
  case_id: string | null;
  changed_by: string;
  changed_at: Date;
  note: string | null;
}

/** What a status change did. */
export type StatusChangeResult =
  | { outcome: 'changed'; detection: StoredDetection; change: DetectionStatusChange }
  /** The detection already had that status (and case id): nothing written. */
  | { outcome: 'unchanged'; detection: StoredDetection }
  | { outcome: 'refused'; detection: StoredDetection }
  | { outcome: 'not-found' };

/** The filters of a search; every one is optional and they combine with AND. */
export interface DetectionFilter {
  severity?: Severity | undefined;
  status?: DetectionStatus | undefined;
  /** Detections at or after this instant. */
  since?: Date | undefined;
  /** Detections before this instant. */
  until?: Date | undefined;
  /** Any of these exact (normalized) values. */
  iocValues?: readonly string[] | undefined;
}

/** The position after the last row of a page: (timestamp, detection_id), newest first. */
export interface DetectionCursor {
  timestamp: Date;
  detection_id: string;
}

/** Counts per severity and per status (every value present, zero when none). */
export interface DetectionStats {
  total: number;
  by_severity: Record<Severity, number>;
  by_status: Record<DetectionStatus, number>;
}

// The merged fields of an upsert, in SQL: the same rule as mergeDetection.
const SEVERITY_ORDER = `ARRAY[${[...SEVERITIES]
  .reverse()
  .map((s) => `'${s}'`)
  .join(',')}]`;

const COLUMNS = `detection_id, ts AS "timestamp", ioc_value, ioc_type, activity_event_id,
  activity_source, severity, confidence, first_seen, last_seen, status, case_id, created_at,
  updated_at`;

/**
 * Detections (seed 000) in PostgreSQL, whatever HOT_STORE says: a detection is mutable
 * workflow state (status, case id) whose transitions must be compare-and-set under a row
 * lock, with an append-only status history beside it. ClickHouse has neither row locks
 * nor cheap single-row updates, so both hot-store settings keep detections here.
 */
export class PostgresDetectionStore {
  private readonly table: string;
  private readonly history: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: { schema: string },
  ) {
    assertSchemaName(options.schema);
    this.table = `"${options.schema}".detections`;
    this.history = `"${options.schema}".detection_status_history`;
  }

  /** Creates the tables and indexes when missing. DDL: `stowage init` only. */
  async init(): Promise<void> {
    await applySchemaDdl(this.pool, this.options.schema, async (client) => {
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.table} (
          detection_id text COLLATE "C" PRIMARY KEY,
          ts timestamptz NOT NULL,
          ioc_value text NOT NULL,
          ioc_type text NOT NULL,
          activity_event_id text NOT NULL,
          activity_source text NOT NULL,
          severity text NOT NULL CHECK (severity = ANY (${SEVERITY_ORDER})),
          confidence double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
          first_seen timestamptz NOT NULL,
          last_seen timestamptz NOT NULL,
          status text NOT NULL,
          case_id text,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now()
        )`);
      // One index per filter, each ending in the page order (ts, detection_id), so a
      // filtered page is an index range scan that stops after `limit` rows.
      const indexes: [string, string][] = [
        ['detections_ts_idx', '(ts, detection_id)'],
        ['detections_severity_ts_idx', '(severity, ts, detection_id)'],
        ['detections_status_ts_idx', '(status, ts, detection_id)'],
        ['detections_status_severity_ts_idx', '(status, severity, ts, detection_id)'],
        ['detections_ioc_value_ts_idx', '(ioc_value, ts, detection_id)'],
      ];
      for (const [name, columns] of indexes) {
        await client.query(`CREATE INDEX IF NOT EXISTS ${name} ON ${this.table} ${columns}`);
      }
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.history} (
          id bigserial PRIMARY KEY,
          detection_id text COLLATE "C" NOT NULL
            REFERENCES ${this.table} (detection_id) ON DELETE CASCADE,
          from_status text NOT NULL,
          to_status text NOT NULL,
          case_id text,
          changed_by text NOT NULL,
          changed_at timestamptz NOT NULL DEFAULT now(),
          note text
        )`);
      await client.query(
        `CREATE INDEX IF NOT EXISTS detection_status_history_detection_idx
           ON ${this.history} (detection_id, id)`,
      );
    });
  }

  /**
   * Upserts a canonical batch (the staged JSON array: one record per detection_id) in one
   * statement. A new detection is stored as given; a known one keeps its status, case id,
   * IOC and activity, and takes the earliest timestamp and first_seen, the latest
   * last_seen, the highest confidence and severity. A record that changes nothing writes
   * nothing, so a replayed batch leaves every row (and updated_at) as it was. updated_at is
   * clock_timestamp(), drawn under the table's write lock (not the transaction's start), so
   * detections.archive's high-water mark cannot miss a version committed after it.
   */
  async upsertBatch(body: string): Promise<{ written: number }> {
    const t = 'd';
    const merged = {
      ts: `LEAST(${t}.ts, EXCLUDED.ts)`,
      first_seen: `LEAST(${t}.first_seen, EXCLUDED.first_seen)`,
      last_seen: `GREATEST(${t}.last_seen, EXCLUDED.last_seen)`,
      confidence: `GREATEST(${t}.confidence, EXCLUDED.confidence)`,
      severity: `CASE WHEN array_position(${SEVERITY_ORDER}, EXCLUDED.severity)
                        > array_position(${SEVERITY_ORDER}, ${t}.severity)
                      THEN EXCLUDED.severity ELSE ${t}.severity END`,
    };
    try {
      const result = await this.pool.query(
        `INSERT INTO ${this.table} AS d (detection_id, ts, ioc_value, ioc_type,
           activity_event_id, activity_source, severity, confidence, first_seen, last_seen,
           status, case_id, updated_at)
         SELECT r.detection_id, r."timestamp", r.ioc_value, r.ioc_type, r.activity_event_id,
                r.activity_source, r.severity, r.confidence, r.first_seen, r.last_seen,
                r.status, r.case_id, clock_timestamp()
         FROM jsonb_to_recordset($1::jsonb) AS r(detection_id text, "timestamp" timestamptz,
           ioc_value text, ioc_type text, activity_event_id text, activity_source text,
           severity text, confidence double precision, first_seen timestamptz,
           last_seen timestamptz, status text, case_id text)
         ON CONFLICT (detection_id) DO UPDATE SET
           ts = ${merged.ts}, first_seen = ${merged.first_seen}, last_seen = ${merged.last_seen},
           confidence = ${merged.confidence}, severity = ${merged.severity},
           updated_at = clock_timestamp()
         WHERE (${merged.ts}, ${merged.first_seen}, ${merged.last_seen}, ${merged.confidence},
                ${merged.severity})
           IS DISTINCT FROM (${t}.ts, ${t}.first_seen, ${t}.last_seen, ${t}.confidence,
                             ${t}.severity)`,
        [body],
      );
      return { written: result.rowCount ?? 0 };
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /** A detection and its status history (oldest change first), or undefined. */
  async get(
    detectionId: string,
  ): Promise<{ detection: StoredDetection; history: DetectionStatusChange[] } | undefined> {
    try {
      const { rows } = await this.pool.query<StoredDetection>(
        `SELECT ${COLUMNS} FROM ${this.table} WHERE detection_id = $1`,
        [detectionId],
      );
      const detection = rows[0];
      if (detection === undefined) return undefined;
      const history = await this.pool.query<DetectionStatusChange>(
        `SELECT id::int AS id, detection_id, from_status, to_status, case_id, changed_by,
                changed_at, note
         FROM ${this.history} WHERE detection_id = $1 ORDER BY id`,
        [detectionId],
      );
      return { detection: normalize(detection), history: history.rows };
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /**
   * Moves a detection to `status` under a row lock (so of two racing changes the second
   * sees the first's result), appending a history row. The same status with the same (or
   * no) case id writes nothing; a move the workflow does not allow is refused.
   */
  async changeStatus(change: {
    detectionId: string;
    status: DetectionStatus;
    caseId?: string | undefined;
    note?: string | undefined;
    by: string;
  }): Promise<StatusChangeResult> {
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<StoredDetection>(
        `SELECT ${COLUMNS} FROM ${this.table} WHERE detection_id = $1 FOR UPDATE`,
        [change.detectionId],
      );
      const current = rows[0];
      let result: StatusChangeResult;
      if (current === undefined) result = { outcome: 'not-found' };
      else if (
        current.status === change.status &&
        (change.caseId === undefined || change.caseId === current.case_id)
      )
        result = { outcome: 'unchanged', detection: normalize(current) };
      else if (current.status !== change.status && !canTransition(current.status, change.status))
        result = { outcome: 'refused', detection: normalize(current) };
      else {
        const updated = await client.query<StoredDetection>(
          `UPDATE ${this.table} SET status = $2, case_id = COALESCE($3, case_id),
                  updated_at = clock_timestamp()
           WHERE detection_id = $1 RETURNING ${COLUMNS}`,
          [change.detectionId, change.status, change.caseId ?? null],
        );
        const detection = normalize(updated.rows[0]!);
        const logged = await client.query<DetectionStatusChange>(
          `INSERT INTO ${this.history}
             (detection_id, from_status, to_status, case_id, changed_by, note)
           VALUES ($1, $2, $3, $4, $5, $6)
           RETURNING id::int AS id, detection_id, from_status, to_status, case_id, changed_by,
                     changed_at, note`,
          [
            change.detectionId,
            current.status,
            change.status,
            detection.case_id,
            change.by,
            change.note ?? null,
          ],
        );
        result = { outcome: 'changed', detection, change: logged.rows[0]! };
      }
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw classifyPostgresError(err);
    } finally {
      client.release(broken);
    }
  }

  /**
   * One page of detections matching the filter, newest first by (timestamp, detection_id),
   * after `cursor`; `more` says whether another page follows. Keyset paging: a detection
   * inserted meanwhile never shifts, repeats or hides the rows of later pages.
   */
  async search(
    filter: DetectionFilter,
    page: { limit: number; after?: DetectionCursor | undefined },
  ): Promise<{ detections: StoredDetection[]; more: boolean }> {
    const where: string[] = [];
    const values: unknown[] = [];
    const param = (value: unknown) => {
      values.push(value);
      return `$${values.length}`;
    };
    if (filter.severity !== undefined) where.push(`severity = ${param(filter.severity)}`);
    if (filter.status !== undefined) where.push(`status = ${param(filter.status)}`);
    if (filter.since !== undefined) where.push(`ts >= ${param(filter.since)}`);
    if (filter.until !== undefined) where.push(`ts < ${param(filter.until)}`);
    // One value is an equality, which the index serves in page order (no sort of every
    // match of a frequent indicator); two (as given and lower-cased) are rarer.
    if (filter.iocValues?.length === 1) where.push(`ioc_value = ${param(filter.iocValues[0])}`);
    else if (filter.iocValues !== undefined)
      where.push(`ioc_value = ANY (${param(filter.iocValues)}::text[])`);
    if (page.after !== undefined) {
      where.push(
        `(ts, detection_id) < (${param(page.after.timestamp)}::timestamptz, ${param(page.after.detection_id)})`,
      );
    }
    try {
      const { rows } = await this.pool.query<StoredDetection>(
        `SELECT ${COLUMNS} FROM ${this.table}
         ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY ts DESC, detection_id DESC LIMIT ${param(page.limit + 1)}`,
        values,
      );
      return {
        detections: rows.slice(0, page.limit).map(normalize),
        more: rows.length > page.limit,
      };
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /** Counts per severity and per status, over detections in [since, until) when given. */
  async stats(
    window: { since?: Date | undefined; until?: Date | undefined } = {},
  ): Promise<DetectionStats> {
    const where: string[] = [];
    const values: unknown[] = [];
    if (window.since !== undefined) {
      values.push(window.since);
      where.push(`ts >= $${values.length}`);
    }
    if (window.until !== undefined) {
      values.push(window.until);
      where.push(`ts < $${values.length}`);
    }
    let rows: { severity: Severity; status: DetectionStatus; n: string }[];
    try {
      ({ rows } = await this.pool.query(
        `SELECT severity, status, count(*) AS n FROM ${this.table}
         ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
         GROUP BY severity, status`,
        values,
      ));
    } catch (err) {
      throw classifyPostgresError(err);
    }
    const stats: DetectionStats = {
      total: 0,
      by_severity: Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>,
      by_status: Object.fromEntries(DETECTION_STATUSES.map((s) => [s, 0])) as Record<
        DetectionStatus,
        number
      >,
    };
    for (const row of rows) {
      const n = Number(row.n);
      stats.total += n;
      stats.by_severity[row.severity] += n;
      stats.by_status[row.status] += n;
    }
    return stats;
  }

  /** How many detections are stored (tests). */
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
}

/** A row as node-postgres returns it, with the float column as a number. */
function normalize(row: StoredDetection): StoredDetection {
  return { ...row, confidence: Number(row.confidence) };
}
