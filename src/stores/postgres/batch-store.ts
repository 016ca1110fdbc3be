import { createHash } from 'node:crypto';
import type pg from 'pg';
import { PermanentError } from '../../errors/index.js';
import type { BatchStager, BatchToStage, StagedBatch } from '../../domain/staged-batch.js';
import { classifyPostgresError } from './classify-postgres-error.js';
import { applySchemaDdl, assertSchemaName } from './postgres-schema-ddl.js';

/** What a sweep removed. */
export interface BatchSweepResult {
  /** Batches older than the grace period that were looked at. */
  examined: number;
  /** Of those, the ones whose job is gone (removed, or deleted when dry). */
  removed: number;
}

/** The batch store's table in a schema (the PostgreSQL hot store merges from it). */
export function batchTableOf(schema: string): string {
  assertSchemaName(schema);
  return `"${schema}".job_batches`;
}

// SQLSTATE of "relation does not exist".
const UNDEFINED_TABLE = '42P01';

/**
 * The claim-check store of large job payloads (`job_batches`): the records of an
 * iocs.insert job live here, and its BullMQ job carries only `{ digest, records }`. A row
 * is keyed by the job that references it and the SHA-256 of its body, written once by a
 * producer after validating every record (never by a worker), read by the job (PostgreSQL
 * hot store: merged by the database straight from this table), and removed by
 * `batches.sweep` once its job is gone from the queue.
 */
export class PostgresBatchStore implements BatchStager {
  /** The table, schema-qualified: the PostgreSQL hot store merges from it in SQL. */
  readonly table: string;

  constructor(
    private readonly pool: pg.Pool,
    options: { schema: string },
  ) {
    assertSchemaName(options.schema);
    this.schema = options.schema;
    this.table = batchTableOf(options.schema);
  }

  private readonly schema: string;

  /** Creates the table when missing. DDL: `stowage init` only. */
  async init(): Promise<void> {
    await applySchemaDdl(this.pool, this.schema, async (client) => {
      // "C" collation: job ids compare as bytes. Unlogged would lose acknowledged batches
      // in a PostgreSQL crash, so the table is logged like every other.
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.table} (
          job_id text COLLATE "C" NOT NULL,
          digest text COLLATE "C" NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
          queue text NOT NULL,
          kind text NOT NULL,
          records integer NOT NULL CHECK (records > 0),
          body text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (job_id, digest)
        )`);
      // Stored out of line uncompressed: pglz compression of a 200 KB body cost more than
      // its write (measured: 13.7 ms a batch compressed).
      await client.query(`ALTER TABLE ${this.table} ALTER COLUMN body SET STORAGE EXTERNAL`);
      await client.query(
        `CREATE INDEX IF NOT EXISTS job_batches_created_at_idx ON ${this.table} (created_at)`,
      );
    });
  }

  /**
   * Stages batches in one statement. A batch already there (the same job and bytes: a
   * retried request) keeps its bytes and is touched, so a sweep deciding its job is gone
   * (removed, about to be enqueued again) leaves it.
   */
  async stage(batches: readonly BatchToStage[]): Promise<void> {
    if (batches.length === 0) return;
    try {
      // One row of plain parameters per batch: a body inside an array parameter is escaped
      // into an array literal and parsed back (measured: 13 ms for a 200 KB body).
      const values = batches.map((_, i) => {
        const p = i * 6;
        return `($${p + 1}, $${p + 2}, $${p + 3}, $${p + 4}, $${p + 5}::int, $${p + 6})`;
      });
      await this.pool.query(
        `INSERT INTO ${this.table} (job_id, digest, queue, kind, records, body)
         VALUES ${values.join(', ')}
         ON CONFLICT (job_id, digest) DO UPDATE SET created_at = now()`,
        batches.flatMap((b) => [b.jobId, b.digest, b.queue, b.kind, b.records, b.body]),
      );
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /**
   * The body of a job's batch, checked against its digest: a PermanentError when there is
   * none (a payload no producer staged) or its bytes are not the ones the job names.
   */
  async load(jobId: string, batch: StagedBatch): Promise<string> {
    try {
      return await readStagedBody(this.pool, this.table, jobId, batch);
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /**
   * Removes the batches, older than `graceSeconds`, whose job no longer exists (BullMQ
   * removed it: retention, or by hand), at most `limit` per call; `dry` counts only.
   */
  async sweep(options: {
    graceSeconds: number;
    limit: number;
    dry?: boolean;
    /** Batches to pass over first (a dry run pages on this way). */
    skip?: number;
    jobsExist: (refs: readonly { queue: string; jobId: string }[]) => Promise<boolean[]>;
  }): Promise<BatchSweepResult> {
    try {
      const { rows } = await this.pool.query<{ job_id: string; digest: string; queue: string }>(
        `SELECT job_id, digest, queue FROM ${this.table}
         WHERE created_at < now() - make_interval(secs => $1)
         ORDER BY created_at, job_id, digest LIMIT $2 OFFSET $3`,
        [options.graceSeconds, options.limit, options.skip ?? 0],
      );
      if (rows.length === 0) return { examined: 0, removed: 0 };
      const exist = await options.jobsExist(rows.map((r) => ({ queue: r.queue, jobId: r.job_id })));
      const gone = rows.filter((_, i) => !exist[i]);
      if (!options.dry && gone.length > 0) {
        // The age is checked again: a producer re-staging the batch of a job enqueued again
        // under the same id (after removal) touched it since, and it stays.
        await this.pool.query(
          `DELETE FROM ${this.table}
           WHERE (job_id, digest) IN (SELECT * FROM unnest($1::text[], $2::text[]))
             AND created_at < now() - make_interval(secs => $3)`,
          [gone.map((r) => r.job_id), gone.map((r) => r.digest), options.graceSeconds],
        );
      }
      return { examined: rows.length, removed: gone.length };
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /** How many batches are staged (tests, metrics). */
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
}

/**
 * Reads a job's staged body through `db` (the pool, or the client of a transaction that
 * merges it) and checks it: only a producer that validated every record stages a batch, so
 * a reference to a missing, altered or differently sized batch did not come through
 * validation and is refused (PermanentError). The digest is computed here, not in SQL:
 * hashing 200 KB in Node costs less than shipping the work to the server.
 */
export async function readStagedBody(
  db: Pick<pg.ClientBase, 'query'>,
  table: string,
  jobId: string,
  batch: StagedBatch,
): Promise<string> {
  const { rows } = await db.query<{ body: string; records: number }>(
    `SELECT body, records FROM ${table} WHERE job_id = $1 AND digest = $2`,
    [jobId, batch.digest],
  );
  const row = rows[0];
  if (row === undefined) {
    throw new PermanentError(
      'batch_not_staged',
      `job ${jobId} names batch ${batch.digest}, which no producer staged (or it was swept)`,
      { jobId, digest: batch.digest },
    );
  }
  if (row.records !== batch.records || stagedDigest(row.body) !== batch.digest) {
    throw new PermanentError(
      'batch_digest_mismatch',
      `the staged batch of job ${jobId} is not the one its payload names (digest or record count differ)`,
      { jobId, digest: batch.digest },
    );
  }
  return row.body;
}

/** The SHA-256 (hex) of a staged body's UTF-8 bytes: the digest a job names. */
function stagedDigest(body: string): string {
  return createHash('sha256').update(body, 'utf8').digest('hex');
}
