import type pg from 'pg';
import { PermanentError } from '../../errors/index.js';
import { batchTableOf } from './batch-store.js';
import { classifyPostgresError } from './classify-postgres-error.js';
import { applySchemaDdl, assertSchemaName } from './postgres-schema-ddl.js';

/** A job that failed for good, as the worker or the sweep saw it in its queue. */
export interface DeadLetterInput {
  readonly queue: string;
  readonly jobId: string;
  readonly type: string;
  /**
   * The job's data as stored in its queue: for a claim-checked type the batch reference
   * `{ batch: { digest, records } }`, never the records themselves.
   */
  readonly data: unknown;
  /** The job's `$meta` envelope (enqueued_by, tenant, tags), or null when it has none. */
  readonly meta: unknown;
  /** The error code (`batch_not_staged`, `unexpected`, …). */
  readonly failureCode: string;
  /** The failure reason, already redacted. */
  readonly reason: string;
  /** The last attempt's stack, already redacted; null when BullMQ kept none. */
  readonly stack: string | null;
  readonly attemptsMade: number;
  readonly maxAttempts: number;
  /** When the job was first enqueued. */
  readonly enqueuedAt: Date;
  /** When it failed for good. */
  readonly failedAt: Date;
}

/** A dead letter as stored. */
export interface DeadLetter extends DeadLetterInput {
  readonly id: string;
  readonly tenant: string | null;
  readonly deadLetteredAt: Date;
  /** When it was retried, and the job that retry enqueued (null: never retried). */
  readonly retriedAt: Date | null;
  readonly retryJobId: string | null;
}

/** Which dead letters a list or a purge covers; every field narrows. */
export interface DeadLetterFilter {
  readonly queue?: string | undefined;
  readonly type?: string | undefined;
  readonly tenant?: string | undefined;
  /** Dead-lettered at or after. */
  readonly since?: Date | undefined;
  /** Dead-lettered before (a purge of what is old). */
  readonly before?: Date | undefined;
}

/** One page, newest first. */
export interface DeadLetterPage {
  readonly items: DeadLetter[];
  /** Pass as `cursor` for the next page; null on the last one. */
  readonly nextCursor: string | null;
}

interface Row {
  id: string;
  queue: string;
  job_id: string;
  type: string;
  data: unknown;
  meta: unknown;
  tenant: string | null;
  failure_code: string;
  reason: string;
  stack: string | null;
  attempts_made: number;
  max_attempts: number;
  enqueued_at: Date;
  failed_at: Date;
  dead_lettered_at: Date;
  retried_at: Date | null;
  retry_job_id: string | null;
}

const COLUMNS = `id::text AS id, queue, job_id, type, data, meta, tenant, failure_code, reason,
  stack, attempts_made, max_attempts, enqueued_at, failed_at, dead_lettered_at, retried_at,
  retry_job_id`;

/** Rows inserted per statement (12 parameters a row, well under PostgreSQL's 65,535). */
const INSERT_CHUNK = 500;

/**
 * The durable dead-letter store (`<schema>.dead_letters`): one row per job that failed for
 * good, keyed by (queue, job id, attempts made) so the worker's hook and the sweep that
 * reconciles it write one row for one failure, however often either runs. It outlives the
 * queue's retention; a row whose job is a claim-checked batch keeps that batch staged
 * (`holdsBatches`) until the row is retried or removed.
 */
export class DeadLetterStore {
  private readonly table: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: { schema: string },
  ) {
    assertSchemaName(options.schema);
    this.table = `"${options.schema}".dead_letters`;
  }

  /** Creates the table when missing. DDL: `stowage init` only. */
  async init(): Promise<void> {
    await applySchemaDdl(this.pool, this.options.schema, async (client) => {
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.table} (
          id bigserial PRIMARY KEY,
          queue text NOT NULL,
          job_id text COLLATE "C" NOT NULL,
          type text NOT NULL,
          data jsonb NOT NULL,
          meta jsonb NULL,
          tenant text GENERATED ALWAYS AS (meta ->> 'tenant') STORED,
          failure_code text NOT NULL,
          reason text NOT NULL,
          stack text NULL,
          attempts_made integer NOT NULL CHECK (attempts_made >= 0),
          max_attempts integer NOT NULL CHECK (max_attempts >= 0),
          enqueued_at timestamptz NOT NULL,
          failed_at timestamptz NOT NULL,
          dead_lettered_at timestamptz NOT NULL DEFAULT now(),
          retried_at timestamptz NULL,
          retry_job_id text NULL,
          UNIQUE (queue, job_id, attempts_made)
        )`);
      await client.query(
        `CREATE INDEX IF NOT EXISTS dead_letters_type_idx ON ${this.table} (type, id)`,
      );
      await client.query(
        `CREATE INDEX IF NOT EXISTS dead_letters_tenant_idx ON ${this.table} (tenant, id)`,
      );
      await client.query(
        `CREATE INDEX IF NOT EXISTS dead_letters_at_idx ON ${this.table} (dead_lettered_at)`,
      );
    });
  }

  /**
   * Records dead letters; one already there (the same queue, job and attempt) is left as it
   * is. Returns how many rows are new.
   */
  async record(entries: readonly DeadLetterInput[]): Promise<number> {
    let added = 0;
    for (let i = 0; i < entries.length; i += INSERT_CHUNK) {
      const chunk = entries.slice(i, i + INSERT_CHUNK);
      const values = chunk.map((_, j) => {
        const p = j * 12;
        const at = (n: number) => `$${p + n}`;
        return `(${at(1)}, ${at(2)}, ${at(3)}, ${at(4)}::jsonb, ${at(5)}::jsonb, ${at(6)}, ${at(7)}, ${at(8)}, ${at(9)}::int, ${at(10)}::int, ${at(11)}::timestamptz, ${at(12)}::timestamptz)`;
      });
      const { rowCount } = await this.pool
        .query(
          `INSERT INTO ${this.table} (queue, job_id, type, data, meta, failure_code, reason, stack,
             attempts_made, max_attempts, enqueued_at, failed_at)
           VALUES ${values.join(', ')}
           ON CONFLICT (queue, job_id, attempts_made) DO NOTHING`,
          chunk.flatMap((e) => [
            e.queue,
            e.jobId,
            e.type,
            JSON.stringify(e.data ?? null),
            e.meta === null || e.meta === undefined ? null : JSON.stringify(e.meta),
            e.failureCode,
            e.reason,
            e.stack,
            e.attemptsMade,
            e.maxAttempts,
            e.enqueuedAt,
            e.failedAt,
          ]),
        )
        .catch((err: unknown) => {
          throw classifyPostgresError(err);
        });
      added += rowCount ?? 0;
    }
    return added;
  }

  /** A page of dead letters, newest first; `cursor` is the previous page's `nextCursor`. */
  async list(
    filter: DeadLetterFilter,
    page: { cursor?: string | undefined; limit: number },
  ): Promise<DeadLetterPage> {
    const { where, params } = whereOf(filter);
    if (page.cursor !== undefined) {
      params.push(page.cursor);
      where.push(`id < $${params.length}::bigint`);
    }
    params.push(page.limit + 1);
    const { rows } = await this.pool
      .query<Row>(
        `SELECT ${COLUMNS} FROM ${this.table}
         ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY id DESC LIMIT $${params.length}`,
        params,
      )
      .catch((err: unknown) => {
        throw classifyPostgresError(err);
      });
    const items = rows.slice(0, page.limit).map(fromRow);
    const more = rows.length > page.limit;
    return { items, nextCursor: more ? (items.at(-1)?.id ?? null) : null };
  }

  /** One dead letter, or undefined. */
  async get(id: string): Promise<DeadLetter | undefined> {
    const { rows } = await this.pool
      .query<Row>(`SELECT ${COLUMNS} FROM ${this.table} WHERE id = $1::bigint`, [id])
      .catch((err: unknown) => {
        throw classifyPostgresError(err);
      });
    return rows[0] && fromRow(rows[0]);
  }

  /**
   * Records that a dead letter was retried as `jobId`; the first retry recorded wins, and
   * the row as it is afterwards is returned (undefined: no such row).
   */
  async markRetried(id: string, jobId: string): Promise<DeadLetter | undefined> {
    const { rows } = await this.pool
      .query<Row>(
        `UPDATE ${this.table}
         SET retried_at = COALESCE(retried_at, now()), retry_job_id = COALESCE(retry_job_id, $2)
         WHERE id = $1::bigint RETURNING ${COLUMNS}`,
        [id, jobId],
      )
      .catch((err: unknown) => {
        throw classifyPostgresError(err);
      });
    return rows[0] && fromRow(rows[0]);
  }

  /** Removes one dead letter; whether it was there. */
  async remove(id: string): Promise<boolean> {
    const { rowCount } = await this.pool
      .query(`DELETE FROM ${this.table} WHERE id = $1::bigint`, [id])
      .catch((err: unknown) => {
        throw classifyPostgresError(err);
      });
    return (rowCount ?? 0) > 0;
  }

  /** Removes every dead letter the filter covers (all of them with an empty filter). */
  async purge(filter: DeadLetterFilter): Promise<number> {
    const { where, params } = whereOf(filter);
    const { rowCount } = await this.pool
      .query(
        `DELETE FROM ${this.table} ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}`,
        params,
      )
      .catch((err: unknown) => {
        throw classifyPostgresError(err);
      });
    return rowCount ?? 0;
  }

  /**
   * Whether a dead letter not yet retried names each job: its staged batch is what a retry
   * will read, so the batch sweep keeps it.
   */
  async holdsBatches(refs: readonly { queue: string; jobId: string }[]): Promise<boolean[]> {
    if (refs.length === 0) return [];
    const { rows } = await this.pool
      .query<{ queue: string; job_id: string }>(
        `SELECT DISTINCT queue, job_id FROM ${this.table}
         WHERE retried_at IS NULL
           AND (queue, job_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
        [refs.map((r) => r.queue), refs.map((r) => r.jobId)],
      )
      .catch((err: unknown) => {
        throw classifyPostgresError(err);
      });
    const held = new Set(rows.map((r) => JSON.stringify([r.queue, r.job_id])));
    return refs.map((r) => held.has(JSON.stringify([r.queue, r.jobId])));
  }

  /**
   * Stages a dead job's batch again for the job that retries it (a batch is keyed by its
   * job). A PermanentError when the batch is gone: the retry could not read its records.
   */
  async restageBatch(fromJobId: string, toJobId: string, digest: string): Promise<void> {
    const batches = batchTableOf(this.options.schema);
    const { rowCount } = await this.pool
      .query(
        `INSERT INTO ${batches} (job_id, digest, queue, kind, records, body)
         SELECT $2, digest, queue, kind, records, body FROM ${batches}
         WHERE job_id = $1 AND digest = $3
         ON CONFLICT (job_id, digest) DO UPDATE SET created_at = now()`,
        [fromJobId, toJobId, digest],
      )
      .catch((err: unknown) => {
        throw classifyPostgresError(err);
      });
    if ((rowCount ?? 0) === 0) {
      throw new PermanentError(
        'batch_not_staged',
        `the batch ${digest} of job ${fromJobId} is no longer staged; the dead letter cannot be retried`,
        { jobId: fromJobId, digest },
      );
    }
  }

  /** How many dead letters each queue and type holds (the `stowage_dead_letters` gauge). */
  async countsByQueueAndType(): Promise<{ queue: string; type: string; count: number }[]> {
    const { rows } = await this.pool
      .query<{ queue: string; type: string; n: string }>(
        `SELECT queue, type, count(*) AS n FROM ${this.table} GROUP BY queue, type`,
      )
      .catch((err: unknown) => {
        throw classifyPostgresError(err);
      });
    return rows.map((r) => ({ queue: r.queue, type: r.type, count: Number(r.n) }));
  }
}

function whereOf(filter: DeadLetterFilter): { where: string[]; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (sql: (p: string) => string, value: unknown) => {
    params.push(value);
    where.push(sql(`$${params.length}`));
  };
  if (filter.queue !== undefined) add((p) => `queue = ${p}`, filter.queue);
  if (filter.type !== undefined) add((p) => `type = ${p}`, filter.type);
  if (filter.tenant !== undefined) add((p) => `tenant = ${p}`, filter.tenant);
  if (filter.since !== undefined) add((p) => `dead_lettered_at >= ${p}`, filter.since);
  if (filter.before !== undefined) add((p) => `dead_lettered_at < ${p}`, filter.before);
  return { where, params };
}

function fromRow(r: Row): DeadLetter {
  return {
    id: r.id,
    queue: r.queue,
    jobId: r.job_id,
    type: r.type,
    data: r.data,
    meta: r.meta,
    tenant: r.tenant,
    failureCode: r.failure_code,
    reason: r.reason,
    stack: r.stack,
    attemptsMade: r.attempts_made,
    maxAttempts: r.max_attempts,
    enqueuedAt: r.enqueued_at,
    failedAt: r.failed_at,
    deadLetteredAt: r.dead_lettered_at,
    retriedAt: r.retried_at,
    retryJobId: r.retry_job_id,
  };
}
