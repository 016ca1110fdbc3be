import type pg from 'pg';
import type { IocType } from '../../domain/ioc.js';
import { isUtcDay } from '../../domain/utc-day.js';
import { classifyPostgresError } from './classify-postgres-error.js';
import { applySchemaDdl, assertSchemaName } from './postgres-schema-ddl.js';

/** Where the newest archived copy of an indicator is: a part of a recorded generation. */
export interface ArchiveLocation {
  day: string;
  generation: number;
  /** The part's number in the generation's manifest (from 1). */
  part: number;
  bucket: string;
  manifest_key: string;
  manifest_version_id: string | null;
  manifest_sha256: string;
}

/** A recorded generation not (wholly) indexed, and where its manifest is. */
export interface UnindexedGeneration {
  day: string;
  generation: number;
  rows: number;
  bucket: string;
  manifest_key: string;
  manifest_version_id: string | null;
  manifest_sha256: string;
}

/**
 * The per-indicator index of the WORM archive (`<schema>.archive_index`): one row per
 * (type, value) and archive generation of a day, naming the part that holds it. archive.lock
 * writes a generation's rows before it records the generation in the ledger, and a look-up
 * joins the ledger, so rows of an unfinished generation are never followed. A look-up that
 * misses the hot store finds the day and part in one indexed query, then reads that part
 * alone. Rows are never deleted by retention: they live as long as the archive they point at.
 */
export class ArchiveIndex {
  private readonly table: string;
  private readonly ledger: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: { schema: string },
  ) {
    assertSchemaName(options.schema);
    this.table = `"${options.schema}".archive_index`;
    this.ledger = `"${options.schema}".archive_ledger`;
  }

  /** Creates the table when missing (`stowage init`). */
  async init(): Promise<void> {
    await applySchemaDdl(this.pool, this.options.schema, async (client) => {
      // Primary key first by indicator: a look-up is one index range, newest day first.
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.table} (
          type text NOT NULL,
          value text NOT NULL,
          day date NOT NULL,
          generation int NOT NULL CHECK (generation >= 1),
          part int NOT NULL CHECK (part >= 1),
          PRIMARY KEY (type, value, day, generation)
        )`);
      // Serves clearing a generation and finding generations not indexed yet.
      await client.query(
        `CREATE INDEX IF NOT EXISTS archive_index_generation_idx ON ${this.table} (day, generation)`,
      );
    });
  }

  /**
   * Forgets what an unfinished run indexed for a generation that is about to be (re)written:
   * its rows may sit in other parts this time. Never called for a recorded generation.
   */
  async clearGeneration(day: string, generation: number): Promise<void> {
    assertDay(day);
    try {
      await this.pool.query(`DELETE FROM ${this.table} WHERE day = $1::date AND generation = $2`, [
        day,
        generation,
      ]);
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /** Indexes indicators written into a part of a generation, in one statement. */
  async addRows(
    day: string,
    generation: number,
    part: number,
    keys: readonly { type: IocType; value: string }[],
  ): Promise<void> {
    assertDay(day);
    if (keys.length === 0) return;
    try {
      await this.pool.query(
        `INSERT INTO ${this.table} (type, value, day, generation, part)
         SELECT k.type, k.value, $3::date, $4::int, $5::int
         FROM unnest($1::text[], $2::text[]) AS k(type, value)
         ON CONFLICT (type, value, day, generation) DO UPDATE SET part = excluded.part`,
        [keys.map((k) => k.type), keys.map((k) => k.value), day, generation, part],
      );
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /**
   * The newest recorded generation of each day with fewer index rows than it holds (archived
   * before the index existed, or indexed by a run killed part-way), oldest day first, at most
   * `limit`. Counts every day's index rows (an index-only scan): an operator's backfill query.
   */
  async unindexedGenerations(limit: number): Promise<UnindexedGeneration[]> {
    try {
      const { rows } = await this.pool.query<UnindexedGeneration>(
        `SELECT to_char(l.day, 'YYYY-MM-DD') AS day, l.generation, l.rows::int AS rows, l.bucket,
                l.manifest_key, l.manifest_version_id, l.manifest_sha256
         FROM ${this.ledger} AS l
         WHERE l.generation = (SELECT max(generation) FROM ${this.ledger} WHERE day = l.day)
           AND (SELECT count(*) FROM ${this.table} AS i
                WHERE i.day = l.day AND i.generation = l.generation) < l.rows
         ORDER BY l.day
         LIMIT $1`,
        [limit],
      );
      return rows;
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  /**
   * The newest recorded archive of an indicator: its latest day (last_seen only grows, so the
   * latest day holds its latest state), that day's newest generation holding it. Undefined
   * when no recorded generation holds it.
   */
  async locate(type: IocType, value: string): Promise<ArchiveLocation | undefined> {
    try {
      const { rows } = await this.pool.query<ArchiveLocation>(
        `SELECT to_char(i.day, 'YYYY-MM-DD') AS day, i.generation, i.part, l.bucket,
                l.manifest_key, l.manifest_version_id, l.manifest_sha256
         FROM ${this.table} AS i
         JOIN ${this.ledger} AS l ON l.day = i.day AND l.generation = i.generation
         WHERE i.type = $1 AND i.value = $2
         ORDER BY i.day DESC, i.generation DESC
         LIMIT 1`,
        [type, value],
      );
      return rows[0];
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }
}

function assertDay(day: string): void {
  if (!isUtcDay(day)) throw new RangeError(`not a YYYY-MM-DD day: ${JSON.stringify(day)}`);
}
