import type pg from 'pg';
import { classifyPostgresError } from './classify-postgres-error.js';
import { applySchemaDdl, assertSchemaName } from './postgres-schema-ddl.js';

/** Where a record's archived copy is: one line of one locked object version. */
export interface RecordLocation {
  id: string;
  bucket: string;
  object_key: string;
  version_id: string | null;
  /** The record's line in the uncompressed NDJSON, from 0. */
  line: number;
  /** SHA-256 (hex) of that line: the record's content. */
  digest: string;
}

/**
 * The index of archived records (`<schema>.record_index`): one row per record id, written
 * once, after the object holding the record is locked and verified and before the hot row,
 * so a hot row always has one and retention may rely on it. The first write of an id wins:
 * its digest is what later writes of the id are compared with. Rows are never deleted:
 * they live as long as the archive they point at.
 */
export class RecordIndex {
  private readonly table: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: { schema: string },
  ) {
    assertSchemaName(options.schema);
    this.table = `"${options.schema}".record_index`;
  }

  /** Creates the table when missing (`stowage init`). */
  async init(): Promise<void> {
    await applySchemaDdl(this.pool, this.options.schema, async (client) => {
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.table} (
          id text COLLATE "C" PRIMARY KEY,
          bucket text NOT NULL,
          object_key text NOT NULL,
          version_id text,
          line int NOT NULL CHECK (line >= 0),
          digest text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
          indexed_at timestamptz NOT NULL DEFAULT now()
        )`);
    });
  }

  /** The index rows of these ids (those that have one), in one query. */
  async find(ids: readonly string[]): Promise<Map<string, RecordLocation>> {
    if (ids.length === 0) return new Map();
    try {
      const { rows } = await this.pool.query<RecordLocation>(
        `SELECT id, bucket, object_key, version_id, line, digest FROM ${this.table}
         WHERE id = ANY($1::text[])`,
        [ids],
      );
      return new Map(rows.map((r) => [r.id, r]));
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /** One record's index row, or undefined (one primary-key look-up). */
  async locate(id: string): Promise<RecordLocation | undefined> {
    return (await this.find([id])).get(id);
  }

  /**
   * Indexes records in one statement; an id indexed already keeps its row (the first write
   * wins). Returns the ids this call indexed.
   */
  async add(rows: readonly RecordLocation[]): Promise<Set<string>> {
    if (rows.length === 0) return new Set();
    try {
      const { rows: inserted } = await this.pool.query<{ id: string }>(
        `INSERT INTO ${this.table} (id, bucket, object_key, version_id, line, digest)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[])
         ON CONFLICT (id) DO NOTHING
         RETURNING id`,
        [
          rows.map((r) => r.id),
          rows.map((r) => r.bucket),
          rows.map((r) => r.object_key),
          rows.map((r) => r.version_id),
          rows.map((r) => r.line),
          rows.map((r) => r.digest),
        ],
      );
      return new Set(inserted.map((r) => r.id));
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /** Which of these ids are indexed (retention deletes hot rows of those only). */
  async indexed(ids: readonly string[]): Promise<Set<string>> {
    return new Set((await this.find(ids)).keys());
  }
}
