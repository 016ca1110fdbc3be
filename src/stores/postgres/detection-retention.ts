import type pg from 'pg';
import type { ArchivedDetection } from '../../domain/detection-archive.js';
import type { DetectionStatus } from '../../domain/detection.js';
import { utcDayWindow } from '../../domain/utc-day.js';
import { classifyPostgresError } from './classify-postgres-error.js';
import { MICROS_ISO } from './detection-archive-ledger.js';
import { waitForWriters } from './postgres-hot-store.js';
import { assertSchemaName } from './postgres-schema-ddl.js';

/**
 * The statuses of seed 000's workflow a detection is still worked on in: retention keeps
 * such a detection whatever its age.
 */
export const OPEN_DETECTION_STATUSES: readonly DetectionStatus[] = [
  'New',
  'Investigating',
  'Escalated',
];

/** One UTC day of detections: how many, and the latest updated_at among them. */
export interface DetectionDay {
  day: string;
  rows: number;
  /** ISO 8601 with microseconds. */
  max_updated_at: string;
}

/** The position after the last detection of an archive page, in (ts, detection_id) order. */
export interface DetectionArchiveCursor {
  /** ISO 8601 with microseconds. */
  ts: string;
  detection_id: string;
}

/** What retention finds among the detections before a cutoff. */
export interface DetectionRetentionSummary {
  /** Detections that may go now, with the ts of the oldest and newest of them. */
  deletable: number;
  oldest: Date | null;
  newest: Date | null;
  /** Open detections (New, Investigating, Escalated): kept whatever their age. */
  kept_open: number;
  /** Terminal detections whose day has no archive generation. */
  blocked_unarchived: number;
  /** Terminal detections updated after their day's newest generation was read. */
  kept_changed_since_archive: number;
}

/**
 * What detections.archive reads and retention.cleanup deletes (`<schema>.detections` with
 * its status history, checked against `<schema>.detection_archive_ledger`). Apart from
 * PostgresDetectionStore, the workflow store, because these are the lifecycle's reads and
 * deletes; both work on the same tables.
 */
export class PostgresDetectionRetention {
  private readonly table: string;
  private readonly history: string;
  private readonly ledger: string;

  constructor(
    private readonly pool: pg.Pool,
    options: { schema: string },
  ) {
    assertSchemaName(options.schema);
    this.table = `"${options.schema}".detections`;
    this.history = `"${options.schema}".detection_status_history`;
    this.ledger = `"${options.schema}".detection_archive_ledger`;
  }

  /** The UTC days before `beforeDay` ('YYYY-MM-DD') holding detections, oldest first. */
  async days(beforeDay: string): Promise<DetectionDay[]> {
    try {
      const { rows } = await this.pool.query<{ day: string; n: string; max_updated_at: string }>(
        `SELECT to_char((ts AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day, count(*) AS n,
                ${MICROS_ISO('max(updated_at)')} AS max_updated_at
         FROM ${this.table} WHERE ts < $1::timestamptz
         GROUP BY 1 ORDER BY 1`,
        [utcDayWindow(beforeDay).start],
      );
      return rows.map((r) => ({ day: r.day, rows: Number(r.n), max_updated_at: r.max_updated_at }));
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /**
   * The latest updated_at of a day's detections (null: none), once every transaction writing
   * detections now has ended. updated_at is drawn with clock_timestamp() under the table's
   * write lock, so a writer that starts later draws a later value: every detection version
   * at or below the mark is then committed, and pages read afterwards hold it or a newer one.
   */
  async highWater(day: string, timeoutMs = 60_000): Promise<string | null> {
    const window = utcDayWindow(day);
    try {
      const { rows } = await this.pool.query<{ mark: string | null }>(
        `SELECT ${MICROS_ISO('max(updated_at)')} AS mark FROM ${this.table}
         WHERE ts >= $1 AND ts < $2`,
        [window.start, window.end],
      );
      await waitForWriters(this.pool, this.table, timeoutMs);
      return rows[0]?.mark ?? null;
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /**
   * One page of a day's detections in (ts, detection_id) order after `after`, each with its
   * status history (oldest change first), as archive lines; every timestamp with microseconds.
   */
  async archivePage(
    day: string,
    after: DetectionArchiveCursor | undefined,
    limit: number,
  ): Promise<{ detections: ArchivedDetection[]; last: DetectionArchiveCursor | undefined }> {
    const window = utcDayWindow(day);
    const values: unknown[] = [window.start, window.end, limit];
    let cursor = '';
    if (after !== undefined) {
      values.push(after.ts, after.detection_id);
      cursor = 'AND (d.ts, d.detection_id) > ($4::timestamptz, $5)';
    }
    try {
      // json_build_object keeps the keys in the order given, so a line's layout is fixed.
      const { rows } = await this.pool.query<{ line: ArchivedDetection; ts: string }>(
        `SELECT ${MICROS_ISO('d.ts')} AS ts, json_build_object(
           'detection_id', d.detection_id, 'timestamp', ${MICROS_ISO('d.ts')},
           'ioc_value', d.ioc_value, 'ioc_type', d.ioc_type,
           'activity_event_id', d.activity_event_id, 'activity_source', d.activity_source,
           'severity', d.severity, 'confidence', d.confidence,
           'first_seen', ${MICROS_ISO('d.first_seen')}, 'last_seen', ${MICROS_ISO('d.last_seen')},
           'status', d.status, 'case_id', d.case_id,
           'created_at', ${MICROS_ISO('d.created_at')}, 'updated_at', ${MICROS_ISO('d.updated_at')},
           'history', coalesce((
             SELECT json_agg(json_build_object(
                      'from_status', h.from_status, 'to_status', h.to_status,
                      'case_id', h.case_id, 'changed_by', h.changed_by,
                      'changed_at', ${MICROS_ISO('h.changed_at')}, 'note', h.note) ORDER BY h.id)
             FROM ${this.history} h WHERE h.detection_id = d.detection_id), '[]'::json)
         ) AS line
         FROM ${this.table} d
         WHERE d.ts >= $1 AND d.ts < $2 ${cursor}
         ORDER BY d.ts, d.detection_id LIMIT $3`,
        values,
      );
      const last = rows.at(-1);
      return {
        detections: rows.map((r) => r.line),
        last: last && { ts: last.ts, detection_id: last.line.detection_id },
      };
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /**
   * What retention finds before `cutoff`: with `archiveRequired`, a terminal detection may go
   * only when its day's newest generation holds it at its current version.
   */
  async summary(cutoff: Date, archiveRequired: boolean): Promise<DetectionRetentionSummary> {
    try {
      const { rows } = await this.pool.query<{
        deletable: string;
        oldest: Date | null;
        newest: Date | null;
        kept_open: string;
        blocked: string;
        changed: string;
      }>(
        `WITH c AS (
           SELECT d.ts, d.status = ANY ($2::text[]) AS open, l.high_water,
                  l.high_water IS NOT NULL AND d.updated_at <= l.high_water AS held
           FROM ${this.table} d
           LEFT JOIN LATERAL (
             SELECT high_water FROM ${this.ledger}
             WHERE day = (d.ts AT TIME ZONE 'UTC')::date ORDER BY generation DESC LIMIT 1
           ) l ON true
           WHERE d.ts < $1)
         SELECT count(*) FILTER (WHERE NOT open AND (held OR NOT $3)) AS deletable,
                min(ts) FILTER (WHERE NOT open AND (held OR NOT $3)) AS oldest,
                max(ts) FILTER (WHERE NOT open AND (held OR NOT $3)) AS newest,
                count(*) FILTER (WHERE open) AS kept_open,
                count(*) FILTER (WHERE NOT open AND $3 AND high_water IS NULL) AS blocked,
                count(*) FILTER (WHERE NOT open AND $3 AND high_water IS NOT NULL AND NOT held)
                  AS changed
         FROM c`,
        [cutoff, OPEN_DETECTION_STATUSES, archiveRequired],
      );
      const r = rows[0];
      return {
        deletable: Number(r?.deletable ?? 0),
        oldest: r?.oldest ?? null,
        newest: r?.newest ?? null,
        kept_open: Number(r?.kept_open ?? 0),
        blocked_unarchived: Number(r?.blocked ?? 0),
        kept_changed_since_archive: Number(r?.changed ?? 0),
      };
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /**
   * Deletes up to `limit` terminal detections before `cutoff`, oldest first (their history
   * goes with them: ON DELETE CASCADE). With `archiveRequired` the DELETE itself checks each
   * row's updated_at against its day's newest high-water mark, so a status change that
   * commits while the statement runs is re-checked on the new version and keeps the row.
   */
  async deleteBatch(
    cutoff: Date,
    archiveRequired: boolean,
    limit: number,
  ): Promise<{ rows: number; oldest: Date | null; newest: Date | null }> {
    const deletable = `d.ts < $1 AND NOT (d.status = ANY ($2::text[]))
      AND (NOT $3 OR d.updated_at <= (
        SELECT high_water FROM ${this.ledger}
        WHERE day = (d.ts AT TIME ZONE 'UTC')::date ORDER BY generation DESC LIMIT 1))`;
    try {
      const { rows } = await this.pool.query<{
        n: string;
        oldest: Date | null;
        newest: Date | null;
      }>(
        `WITH gone AS (
           DELETE FROM ${this.table} d
           WHERE d.detection_id IN (
             SELECT d.detection_id FROM ${this.table} d WHERE ${deletable}
             ORDER BY d.ts, d.detection_id LIMIT $4)
             AND ${deletable}
           RETURNING d.ts)
         SELECT count(*) AS n, min(ts) AS oldest, max(ts) AS newest FROM gone`,
        [cutoff, OPEN_DETECTION_STATUSES, archiveRequired, limit],
      );
      const r = rows[0];
      return { rows: Number(r?.n ?? 0), oldest: r?.oldest ?? null, newest: r?.newest ?? null };
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }
}
