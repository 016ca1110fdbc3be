import type pg from 'pg';
import { classifyPostgresError } from './classify-postgres-error.js';
import { applySchemaDdl, assertSchemaName } from './postgres-schema-ddl.js';

/** One explicit delete of an artifact: who asked, what went, why, and when. */
export interface ArtifactDeletion {
  id: string;
  kind: string;
  bucket: string;
  key: string;
  /** The versions deleted (`null` for an unversioned bucket's one version). */
  version_ids: string[];
  /** Bytes and digest of the version that was current. */
  size: number;
  sha256: string | null;
  /** The name of the API key that asked. */
  api_key: string;
  reason: string | null;
  requested_at: Date;
  /** Null until every version is gone (a failure in between leaves the request on record). */
  deleted_at: Date | null;
}

/**
 * The audit trail of explicit artifact deletes in PostgreSQL (`<schema>.artifact_deletions`):
 * a row is written before the first DeleteObject (no unaudited delete, even after a crash)
 * and completed once every version is gone.
 */
export class ArtifactDeletionLog {
  private readonly table: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: { schema: string },
  ) {
    assertSchemaName(options.schema);
    this.table = `"${options.schema}".artifact_deletions`;
  }

  /** Creates the schema and table when missing (`stowage init`). */
  async init(): Promise<void> {
    await applySchemaDdl(this.pool, this.options.schema, async (client) => {
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.table} (
          id bigserial PRIMARY KEY,
          kind text NOT NULL,
          bucket text NOT NULL,
          key text NOT NULL,
          version_ids text[] NOT NULL,
          size bigint NOT NULL CHECK (size >= 0),
          sha256 text NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
          api_key text NOT NULL,
          reason text NULL,
          requested_at timestamptz NOT NULL DEFAULT now(),
          deleted_at timestamptz NULL
        )`);
      await client.query(
        `CREATE INDEX IF NOT EXISTS artifact_deletions_key ON ${this.table} (bucket, key)`,
      );
    });
  }

  /** Records a delete about to happen; returns its id for complete(). */
  async begin(
    entry: Omit<ArtifactDeletion, 'id' | 'requested_at' | 'deleted_at'>,
  ): Promise<string> {
    const { rows } = await this.pool
      .query<{ id: string }>(
        `INSERT INTO ${this.table}
           (kind, bucket, key, version_ids, size, sha256, api_key, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
        [
          entry.kind,
          entry.bucket,
          entry.key,
          entry.version_ids,
          entry.size,
          entry.sha256,
          entry.api_key,
          entry.reason,
        ],
      )
      .catch((err: unknown) => {
        throw classifyPostgresError(err);
      });
    return rows[0]!.id;
  }

  /** Marks a delete done. */
  async complete(id: string): Promise<Date> {
    const { rows } = await this.pool
      .query<{ deleted_at: Date }>(
        `UPDATE ${this.table} SET deleted_at = now() WHERE id = $1 RETURNING deleted_at`,
        [id],
      )
      .catch((err: unknown) => {
        throw classifyPostgresError(err);
      });
    return rows[0]?.deleted_at ?? new Date();
  }

  /** The deletes of one key, oldest first. */
  async forKey(bucket: string, key: string): Promise<ArtifactDeletion[]> {
    const { rows } = await this.pool
      .query<Omit<ArtifactDeletion, 'size'> & { size: string }>(
        `SELECT id::text AS id, kind, bucket, key, version_ids, size::text AS size, sha256,
                api_key, reason, requested_at, deleted_at
         FROM ${this.table} WHERE bucket = $1 AND key = $2 ORDER BY id`,
        [bucket, key],
      )
      .catch((err: unknown) => {
        throw classifyPostgresError(err);
      });
    return rows.map((r) => ({ ...r, size: Number(r.size) }));
  }
}
