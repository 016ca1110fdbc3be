import type pg from 'pg';
import type { ConfigEntry, ConfigKeySummary } from '../../domain/config-entry.js';
import { classifyPostgresError } from './classify-postgres-error.js';
import { applySchemaDdl, assertSchemaName } from './postgres-schema-ddl.js';

/**
 * What a write did: `written` stored a new version (`created`: the key's first; `replayed`:
 * the same writer's same value was already the version after the one named, so nothing was
 * written again); `stale` wrote nothing because the version named is not the current one.
 */
export type ConfigWriteResult =
  | { outcome: 'written'; entry: ConfigEntry; created: boolean; replayed: boolean }
  | { outcome: 'stale'; currentVersion: number };

interface EntryRow {
  key: string;
  value: unknown;
  version: number;
  updated_at: Date;
  updated_by: string;
}

const ENTRY_COLUMNS = 'key, value, version, updated_at, updated_by';

/**
 * The configuration store (seed 000's set_config/get_config) in PostgreSQL, whatever
 * HOT_STORE is: `config_entries` holds each key's current version, `config_versions` every
 * version ever written (the current one included). A write names the version it replaces and
 * is one statement: a compare-and-set on the entry row (or the primary key, for a new key)
 * with the version row written in the same statement, so concurrent writers naming the same
 * version cannot both win and no version is ever lost or written twice.
 */
export class PostgresConfigStore {
  private readonly entries: string;
  private readonly versions: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: { schema: string },
  ) {
    assertSchemaName(options.schema);
    this.entries = `"${options.schema}".config_entries`;
    this.versions = `"${options.schema}".config_versions`;
  }

  /** Creates the schema and tables when missing (`stowage init`). */
  async init(): Promise<void> {
    await applySchemaDdl(this.pool, this.options.schema, async (client) => {
      // COLLATE "C": keys list in byte order, the same whatever the database's locale, so a
      // key cursor means the same thing on every server.
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.entries} (
          key text COLLATE "C" PRIMARY KEY,
          value jsonb NOT NULL,
          version integer NOT NULL CHECK (version > 0),
          updated_at timestamptz NOT NULL DEFAULT now(),
          updated_by text NOT NULL
        )`);
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.versions} (
          key text COLLATE "C" NOT NULL,
          version integer NOT NULL CHECK (version > 0),
          value jsonb NOT NULL,
          updated_at timestamptz NOT NULL,
          updated_by text NOT NULL,
          PRIMARY KEY (key, version)
        )`);
    });
  }

  /**
   * Writes `value` as the version after `expectedVersion` (0: the key must not exist yet).
   * Stale when the key's current version is another; a replay of the same writer's write
   * (same value, and it is still the latest version) answers that version again.
   */
  async put(
    key: string,
    value: unknown,
    expectedVersion: number,
    updatedBy: string,
  ): Promise<ConfigWriteResult> {
    const json = JSON.stringify(value);
    const write =
      expectedVersion === 0
        ? `INSERT INTO ${this.entries} (key, value, version, updated_by)
           VALUES ($1, $2::jsonb, 1, $4)
           ON CONFLICT (key) DO NOTHING
           RETURNING ${ENTRY_COLUMNS}`
        : `UPDATE ${this.entries}
           SET value = $2::jsonb, version = version + 1, updated_at = now(), updated_by = $4
           WHERE key = $1 AND version = $3
           RETURNING ${ENTRY_COLUMNS}`;
    // $3 is unused by the insert; PostgreSQL still needs its type.
    const { rows } = await this.query<EntryRow>(
      `WITH written AS (${write}),
            kept AS (
              INSERT INTO ${this.versions} (key, version, value, updated_at, updated_by)
              SELECT key, version, value, updated_at, updated_by FROM written
            )
       SELECT ${ENTRY_COLUMNS}, $3::integer AS expected FROM written`,
      [key, json, expectedVersion, updatedBy],
    );
    const row = rows[0];
    if (row) {
      return {
        outcome: 'written',
        entry: toEntry(row),
        created: row.version === 1,
        replayed: false,
      };
    }
    const current = await this.query<EntryRow & { same: boolean }>(
      `SELECT ${ENTRY_COLUMNS}, value = $2::jsonb AS same FROM ${this.entries} WHERE key = $1`,
      [key, json],
    );
    const now = current.rows[0];
    if (now && now.version === expectedVersion + 1 && now.same && now.updated_by === updatedBy) {
      return {
        outcome: 'written',
        entry: toEntry(now),
        created: now.version === 1,
        replayed: true,
      };
    }
    return { outcome: 'stale', currentVersion: now?.version ?? 0 };
  }

  /** The key's current version, or the version asked for; undefined when there is none. */
  async get(key: string, version?: number): Promise<ConfigEntry | undefined> {
    const { rows } =
      version === undefined
        ? await this.query<EntryRow>(
            `SELECT ${ENTRY_COLUMNS} FROM ${this.entries} WHERE key = $1`,
            [key],
          )
        : await this.query<EntryRow>(
            `SELECT ${ENTRY_COLUMNS} FROM ${this.versions} WHERE key = $1 AND version = $2`,
            [key, version],
          );
    return rows[0] ? toEntry(rows[0]) : undefined;
  }

  /** Keys after `after` in byte order, at most `limit`, each with its current version. */
  async list(options: { after?: string | undefined; limit: number }): Promise<ConfigKeySummary[]> {
    const { rows } = await this.query<Omit<EntryRow, 'value'>>(
      `SELECT key, version, updated_at, updated_by FROM ${this.entries}
       WHERE $1::text IS NULL OR key > $1::text
       ORDER BY key LIMIT $2`,
      [options.after ?? null, options.limit],
    );
    return rows;
  }

  private async query<R extends pg.QueryResultRow>(
    text: string,
    values: unknown[],
  ): Promise<pg.QueryResult<R>> {
    return this.pool.query<R>(text, values).catch((err: unknown) => {
      throw classifyPostgresError(err);
    });
  }
}

function toEntry(row: EntryRow): ConfigEntry {
  return {
    key: row.key,
    value: row.value,
    version: row.version,
    updated_at: row.updated_at,
    updated_by: row.updated_by,
  };
}
