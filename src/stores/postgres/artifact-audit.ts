import type pg from 'pg';
import { classifyPostgresError } from './classify-postgres-error.js';
import { applySchemaDdl, assertSchemaName } from './postgres-schema-ddl.js';

/** One admin overwrite of an artifact: what was there, what replaced it, who asked. */
export interface ArtifactOverwrite {
  job_id: string;
  bucket: string;
  key: string;
  old_sha256: string | null;
  /** The replaced object's version; null in an unversioned bucket. */
  old_version_id: string | null;
  new_sha256: string;
  /** Null until the new object is complete. */
  new_version_id: string | null;
  /** The name of the API key that asked for the overwrite. */
  api_key: string;
  requested_at: Date;
  /** Null until the new object is complete. */
  replaced_at: Date | null;
}

/**
 * The audit trail of artifact overwrites in PostgreSQL (`<schema>.artifact_overwrites`). A
 * row is written before an object is replaced (so a crash in between still leaves it) and
 * completed once the new object is there; one row per job, whatever its retries.
 */
export class ArtifactAuditLog {
  private readonly table: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: { schema: string },
  ) {
    assertSchemaName(options.schema);
    this.table = `"${options.schema}".artifact_overwrites`;
  }

  /** Creates the schema and table when missing (`stowage init`). */
  async init(): Promise<void> {
    await applySchemaDdl(this.pool, this.options.schema, async (client) => {
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.table} (
          job_id text PRIMARY KEY,
          bucket text NOT NULL,
          key text NOT NULL,
          old_sha256 text NULL,
          old_version_id text NULL,
          new_sha256 text NOT NULL CHECK (new_sha256 ~ '^[0-9a-f]{64}$'),
          new_version_id text NULL,
          api_key text NOT NULL,
          requested_at timestamptz NOT NULL DEFAULT now(),
          replaced_at timestamptz NULL
        )`);
      await client.query(
        `CREATE INDEX IF NOT EXISTS artifact_overwrites_key ON ${this.table} (bucket, key)`,
      );
    });
  }

  /** Records an overwrite about to happen; a retry of the same job keeps the first row. */
  async begin(
    entry: Omit<ArtifactOverwrite, 'new_version_id' | 'requested_at' | 'replaced_at'>,
  ): Promise<void> {
    await this.pool
      .query(
        `INSERT INTO ${this.table}
           (job_id, bucket, key, old_sha256, old_version_id, new_sha256, api_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (job_id) DO NOTHING`,
        [
          entry.job_id,
          entry.bucket,
          entry.key,
          entry.old_sha256,
          entry.old_version_id,
          entry.new_sha256,
          entry.api_key,
        ],
      )
      .catch((err: unknown) => {
        throw classifyPostgresError(err);
      });
  }

  /** Marks a job's overwrite done with the version that replaced the old one. */
  async complete(jobId: string, newVersionId: string | null): Promise<void> {
    await this.pool
      .query(
        `UPDATE ${this.table} SET new_version_id = $2, replaced_at = now()
         WHERE job_id = $1 AND replaced_at IS NULL`,
        [jobId, newVersionId],
      )
      .catch((err: unknown) => {
        throw classifyPostgresError(err);
      });
  }

  /** The overwrites of one key, oldest first. */
  async forKey(bucket: string, key: string): Promise<ArtifactOverwrite[]> {
    const { rows } = await this.pool
      .query<ArtifactOverwrite>(
        `SELECT job_id, bucket, key, old_sha256, old_version_id, new_sha256, new_version_id,
                api_key, requested_at, replaced_at
         FROM ${this.table} WHERE bucket = $1 AND key = $2 ORDER BY requested_at, job_id`,
        [bucket, key],
      )
      .catch((err: unknown) => {
        throw classifyPostgresError(err);
      });
    return rows;
  }
}
