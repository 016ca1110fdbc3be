import type pg from 'pg';
import {
  applyCommit,
  COMMIT_OUTCOMES,
  WATERMARK_STATUSES,
  type CommitOutcome,
  type RewindActor,
  type Watermark,
  type WatermarkRewind,
  type WatermarkCommit,
  type WatermarkStatus,
} from '../../domain/watermark.js';
import { classifyPostgresError } from './classify-postgres-error.js';
import { applySchemaDdl, POSTGRES_SCHEMA_NAME } from './postgres-schema-ddl.js';

/** What a commit did, and the watermark after it. */
export interface CommitResult {
  watermark: Watermark;
  outcome: CommitOutcome;
  /** This commit created the source's first watermark (the API answers 201). */
  created: boolean;
  /** The job id had already been committed: nothing was written, the first outcome is returned. */
  replayed: boolean;
}

/** One recorded commit, newest first in `history()`. */
export interface WatermarkHistoryEntry {
  id: number;
  source_id: string;
  timestamp: Date;
  status: WatermarkStatus;
  /** As the run reported it; null when it did not say. */
  records_collected: number | null;
  error_message: string | null;
  /** Whether this commit moved the success timestamp. */
  applied: boolean;
  outcome: CommitOutcome;
  job_id: string | null;
  committed_at: Date;
}

/**
 * What a rewind did: `rewound` moved the success timestamp back and wrote the audit row;
 * `not-found` found no watermark; `not-earlier` found none to go back from (no success yet,
 * or one at or before the asked timestamp) and wrote nothing.
 */
export type RewindResult =
  | { outcome: 'rewound'; watermark: Watermark; rewind: WatermarkRewind }
  | { outcome: 'not-found' }
  | { outcome: 'not-earlier'; watermark: Watermark };

/** Collector watermarks: the success timestamp only moves forward; every commit is kept. */
export interface WatermarkStore {
  /** Creates the schema and tables when missing; safe to call on every start, concurrently. */
  init(): Promise<void>;
  /**
   * Records a run in one transaction. Replaying a job id already committed for the source
   * writes nothing and returns the watermark with the first outcome.
   */
  commit(commit: WatermarkCommit, options?: { jobId?: string }): Promise<CommitResult>;
  /** The source's watermark, or undefined before its first commit. */
  get(sourceId: string): Promise<Watermark | undefined>;
  /** Every source's watermark, by source id (operators list them; there are few sources). */
  list(): Promise<Watermark[]>;
  /** The source's latest commits, newest first. */
  history(sourceId: string, limit?: number): Promise<WatermarkHistoryEntry[]>;
  /**
   * Moves the success timestamp back to an earlier one, the one exception to forward-only,
   * and writes an audit row (who, when, from, to, why) in the same transaction. Only admins
   * reach it (API admin scope, or the operator CLI).
   */
  rewind(
    sourceId: string,
    to: Date,
    audit: RewindActor & { reason: string },
  ): Promise<RewindResult>;
  /** The source's rewinds, newest first. */
  rewinds(sourceId: string, limit?: number): Promise<WatermarkRewind[]>;
}

/** Most history rows one call returns. */
export const MAX_HISTORY_LIMIT = 1_000;

const WATERMARK_COLUMNS =
  'source_id, last_successful_timestamp, last_run_timestamp, status, records_collected, error_message, updated_at';

interface WatermarkRow {
  source_id: string;
  last_successful_timestamp: Date | null;
  last_run_timestamp: Date;
  status: WatermarkStatus;
  records_collected: string;
  error_message: string | null;
  updated_at: Date;
}

interface HistoryRow {
  id: string;
  source_id: string;
  timestamp: Date;
  status: WatermarkStatus;
  records_collected: string | null;
  error_message: string | null;
  applied: boolean;
  outcome: CommitOutcome;
  job_id: string | null;
  committed_at: Date;
}

// bigint arrives as a string from pg; counts stay far below 2^53.
type RewindRow = Omit<WatermarkRewind, 'id'> & { id: string };

const REWIND_COLUMNS =
  'id, source_id, from_timestamp, to_timestamp, rewound_by, via, reason, rewound_at';

const toRewind = (row: RewindRow): WatermarkRewind => ({ ...row, id: Number(row.id) });

const toWatermark = (row: WatermarkRow): Watermark => ({
  ...row,
  records_collected: Number(row.records_collected),
});

const toHistoryEntry = (row: HistoryRow): WatermarkHistoryEntry => ({
  ...row,
  id: Number(row.id),
  records_collected: row.records_collected === null ? null : Number(row.records_collected),
});

const sqlList = (values: readonly string[]) => values.map((v) => `'${v}'`).join(', ');

/**
 * Watermarks in PostgreSQL. Every commit of a source is serialized on its watermark row
 * (`SELECT … FOR UPDATE`, or the unique index while the first row is being inserted), so
 * parallel commits cannot move the success timestamp backwards or lose a history row.
 */
export class PostgresWatermarkStore implements WatermarkStore {
  private readonly watermarks: string;
  private readonly historyTable: string;
  private readonly rewindTable: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: { schema: string },
  ) {
    if (!POSTGRES_SCHEMA_NAME.test(options.schema)) {
      throw new Error(`schema "${options.schema}" must be a plain lower-case identifier`);
    }
    this.watermarks = `"${options.schema}".watermarks`;
    this.historyTable = `"${options.schema}".watermark_history`;
    this.rewindTable = `"${options.schema}".watermark_rewinds`;
  }

  /** Creates the schema and tables when missing (`stowage init`). */
  async init(): Promise<void> {
    await applySchemaDdl(this.pool, this.options.schema, async (client) => {
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.watermarks} (
          source_id text PRIMARY KEY,
          last_successful_timestamp timestamptz NULL,
          last_run_timestamp timestamptz NOT NULL,
          status text NOT NULL CHECK (status IN (${sqlList(WATERMARK_STATUSES)})),
          records_collected bigint NOT NULL DEFAULT 0 CHECK (records_collected >= 0),
          error_message text NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now()
        )`);
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.historyTable} (
          id bigserial PRIMARY KEY,
          source_id text NOT NULL,
          "timestamp" timestamptz NOT NULL,
          status text NOT NULL CHECK (status IN (${sqlList(WATERMARK_STATUSES)})),
          records_collected bigint NULL CHECK (records_collected >= 0),
          error_message text NULL,
          applied boolean NOT NULL,
          outcome text NOT NULL CHECK (outcome IN (${sqlList(COMMIT_OUTCOMES)})),
          job_id text NULL,
          committed_at timestamptz NOT NULL DEFAULT now()
        )`);
      // A job delivered twice (at-least-once) must not leave two history rows.
      await client.query(`
        CREATE UNIQUE INDEX IF NOT EXISTS watermark_history_job_uq
          ON ${this.historyTable} (source_id, job_id) WHERE job_id IS NOT NULL`);
      await client.query(`
        CREATE INDEX IF NOT EXISTS watermark_history_source_idx
          ON ${this.historyTable} (source_id, id DESC)`);
      // The audit of rewinds has its own table: the history's columns and outcome check
      // describe collector runs, and tables created by earlier versions keep their checks.
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.rewindTable} (
          id bigserial PRIMARY KEY,
          source_id text NOT NULL,
          from_timestamp timestamptz NOT NULL,
          to_timestamp timestamptz NOT NULL CHECK (to_timestamp < from_timestamp),
          rewound_by text NOT NULL,
          via text NOT NULL CHECK (via IN ('api', 'cli')),
          reason text NOT NULL,
          rewound_at timestamptz NOT NULL DEFAULT now()
        )`);
      await client.query(`
        CREATE INDEX IF NOT EXISTS watermark_rewinds_source_idx
          ON ${this.rewindTable} (source_id, id DESC)`);
    });
  }

  async commit(commit: WatermarkCommit, options: { jobId?: string } = {}): Promise<CommitResult> {
    const jobId = options.jobId ?? null;
    return this.classified(() =>
      this.transaction(async (client) => {
        const first = applyCommit(undefined, commit);
        // The first commit of a source inserts its row; a concurrent first commit waits on
        // the primary key here and then takes the locked-update path below.
        const inserted = await client.query<WatermarkRow>(
          `INSERT INTO ${this.watermarks} (source_id, last_successful_timestamp,
             last_run_timestamp, status, records_collected, error_message)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (source_id) DO NOTHING
           RETURNING ${WATERMARK_COLUMNS}`,
          [
            first.next.source_id,
            first.next.last_successful_timestamp,
            first.next.last_run_timestamp,
            first.next.status,
            first.next.records_collected,
            first.next.error_message,
          ],
        );
        const created = inserted.rows[0];
        if (created) {
          await this.recordHistory(client, commit, first.outcome, first.advanced, jobId);
          return {
            watermark: toWatermark(created),
            outcome: first.outcome,
            created: true,
            replayed: false,
          };
        }

        const locked = await client.query<WatermarkRow>(
          `SELECT ${WATERMARK_COLUMNS} FROM ${this.watermarks} WHERE source_id = $1 FOR UPDATE`,
          [commit.source_id],
        );
        const row = locked.rows[0];
        if (!row) throw new Error(`watermark of ${commit.source_id} vanished during a commit`);
        const current = toWatermark(row);

        if (jobId !== null) {
          // Checked under the row lock, so two deliveries of one job cannot both pass.
          const seen = await client.query<{ outcome: CommitOutcome }>(
            `SELECT outcome FROM ${this.historyTable} WHERE source_id = $1 AND job_id = $2`,
            [commit.source_id, jobId],
          );
          const earlier = seen.rows[0];
          if (earlier) {
            return { watermark: current, outcome: earlier.outcome, created: false, replayed: true };
          }
        }

        const applied = applyCommit(current, commit);
        let watermark = current;
        if (applied.changed) {
          const updated = await client.query<WatermarkRow>(
            `UPDATE ${this.watermarks}
                SET last_successful_timestamp = $2, last_run_timestamp = $3, status = $4,
                    records_collected = $5, error_message = $6, updated_at = now()
              WHERE source_id = $1
             RETURNING ${WATERMARK_COLUMNS}`,
            [
              applied.next.source_id,
              applied.next.last_successful_timestamp,
              applied.next.last_run_timestamp,
              applied.next.status,
              applied.next.records_collected,
              applied.next.error_message,
            ],
          );
          watermark = toWatermark(updated.rows[0]!);
        }
        await this.recordHistory(client, commit, applied.outcome, applied.advanced, jobId);
        return { watermark, outcome: applied.outcome, created: false, replayed: false };
      }),
    );
  }

  async get(sourceId: string): Promise<Watermark | undefined> {
    const result = await this.classified(() =>
      this.pool.query<WatermarkRow>(
        `SELECT ${WATERMARK_COLUMNS} FROM ${this.watermarks} WHERE source_id = $1`,
        [sourceId],
      ),
    );
    const row = result.rows[0];
    return row ? toWatermark(row) : undefined;
  }

  async list(): Promise<Watermark[]> {
    const result = await this.classified(() =>
      this.pool.query<WatermarkRow>(
        `SELECT ${WATERMARK_COLUMNS} FROM ${this.watermarks} ORDER BY source_id`,
      ),
    );
    return result.rows.map(toWatermark);
  }

  async history(sourceId: string, limit = 100): Promise<WatermarkHistoryEntry[]> {
    const bounded = Number.isFinite(limit)
      ? Math.max(1, Math.min(MAX_HISTORY_LIMIT, Math.floor(limit)))
      : 100;
    const result = await this.classified(() =>
      this.pool.query<HistoryRow>(
        `SELECT id, source_id, "timestamp", status, records_collected, error_message, applied,
              outcome, job_id, committed_at
         FROM ${this.historyTable}
        WHERE source_id = $1
        ORDER BY id DESC
        LIMIT $2`,
        [sourceId, bounded],
      ),
    );
    return result.rows.map(toHistoryEntry);
  }

  async rewind(
    sourceId: string,
    to: Date,
    audit: RewindActor & { reason: string },
  ): Promise<RewindResult> {
    return this.classified(() =>
      this.transaction(async (client): Promise<RewindResult> => {
        // The same row lock as commits: a collector's commit lands before or after, whole.
        const locked = await client.query<WatermarkRow>(
          `SELECT ${WATERMARK_COLUMNS} FROM ${this.watermarks} WHERE source_id = $1 FOR UPDATE`,
          [sourceId],
        );
        const row = locked.rows[0];
        if (!row) return { outcome: 'not-found' };
        const current = toWatermark(row);
        const from = current.last_successful_timestamp;
        if (from === null || to.getTime() >= from.getTime()) {
          return { outcome: 'not-earlier', watermark: current };
        }
        // The latest run's timestamp comes back too when it is later than the new watermark:
        // a poisoned run timestamp (9999-12-31) would otherwise keep every later run from
        // showing as the latest. The history keeps every run as reported.
        const updated = await client.query<WatermarkRow>(
          `UPDATE ${this.watermarks}
              SET last_successful_timestamp = $2,
                  last_run_timestamp = LEAST(last_run_timestamp, $2),
                  updated_at = now()
            WHERE source_id = $1
           RETURNING ${WATERMARK_COLUMNS}`,
          [sourceId, to],
        );
        const audited = await client.query<RewindRow>(
          `INSERT INTO ${this.rewindTable} (source_id, from_timestamp, to_timestamp, rewound_by, via, reason)
           VALUES ($1, $2, $3, $4, $5, $6)
           RETURNING ${REWIND_COLUMNS}`,
          [sourceId, from, to, audit.by, audit.via, audit.reason],
        );
        return {
          outcome: 'rewound',
          watermark: toWatermark(updated.rows[0]!),
          rewind: toRewind(audited.rows[0]!),
        };
      }),
    );
  }

  async rewinds(sourceId: string, limit = 100): Promise<WatermarkRewind[]> {
    const bounded = Number.isFinite(limit)
      ? Math.max(1, Math.min(MAX_HISTORY_LIMIT, Math.floor(limit)))
      : 100;
    const result = await this.classified(() =>
      this.pool.query<RewindRow>(
        `SELECT ${REWIND_COLUMNS} FROM ${this.rewindTable}
          WHERE source_id = $1 ORDER BY id DESC LIMIT $2`,
        [sourceId, bounded],
      ),
    );
    return result.rows.map(toRewind);
  }

  private async recordHistory(
    client: pg.PoolClient,
    commit: WatermarkCommit,
    outcome: CommitOutcome,
    applied: boolean,
    jobId: string | null,
  ): Promise<void> {
    await client.query(
      `INSERT INTO ${this.historyTable}
         (source_id, "timestamp", status, records_collected, error_message, applied, outcome, job_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (source_id, job_id) WHERE job_id IS NOT NULL DO NOTHING`,
      [
        commit.source_id,
        commit.timestamp,
        commit.status,
        commit.records_collected ?? null,
        commit.error_message ?? null,
        applied,
        outcome,
        jobId,
      ],
    );
  }

  /** Runs a query or transaction, turning pg's errors into permanent or transient ones. */
  private async classified<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        // A connection that cannot even roll back must not go back to the pool.
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }
}
