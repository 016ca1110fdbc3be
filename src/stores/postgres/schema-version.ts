import type { ClickHouseClient } from '@clickhouse/client';
import type pg from 'pg';
import { StartupRefusedError } from '../../errors/index.js';
import { classifyPostgresError } from './classify-postgres-error.js';
import { applySchemaDdl, assertSchemaName } from './postgres-schema-ddl.js';

/**
 * The schema version this build needs. `stowage init` records it once every store's tables
 * exist; api and workers refuse to start on a lower one. Raise it whenever a store's
 * init() gains a table, column or index that code relies on.
 */
export const SCHEMA_VERSION = 6;

const CLICKHOUSE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

// SQLSTATEs meaning "not there": undefined table, invalid schema name.
const MISSING = new Set(['42P01', '3F000']);

/** A start-up that cannot go on until `stowage init` has run (the message is one line). */
export class SchemaNotReadyError extends StartupRefusedError {
  constructor(message: string) {
    super('schema_not_ready', message);
    this.name = 'SchemaNotReadyError';
  }
}

/**
 * The `schema_version` table of the PostgreSQL schema: written by `stowage init` only,
 * read (never created) by every process start, under short lock and statement timeouts so
 * that a start never queues behind, or in front of, another session's locks.
 */
export class PostgresSchemaVersion {
  private readonly table: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: { schema: string; lockTimeoutMs?: number },
  ) {
    assertSchemaName(options.schema);
    this.table = `"${options.schema}".schema_version`;
  }

  /** Records `version` (never lowers it). DDL: for `stowage init` alone. */
  async record(version = SCHEMA_VERSION): Promise<void> {
    await applySchemaDdl(this.pool, this.options.schema, async (client) => {
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.table} (
          id boolean PRIMARY KEY DEFAULT true CHECK (id),
          version integer NOT NULL CHECK (version > 0),
          initialized_at timestamptz NOT NULL DEFAULT now()
        )`);
      await client.query(
        `INSERT INTO ${this.table} (id, version) VALUES (true, $1)
         ON CONFLICT (id) DO UPDATE
           SET version = GREATEST(${this.table}.version, EXCLUDED.version), initialized_at = now()`,
        [version],
      );
    });
  }

  /** The recorded version, or undefined when `stowage init` never ran on this schema. */
  async read(): Promise<number | undefined> {
    const timeout = this.options.lockTimeoutMs ?? 2_000;
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN READ ONLY');
      // Identifiers and numbers only: SET takes no parameters.
      await client.query(`SET LOCAL lock_timeout = ${Math.trunc(timeout)}`);
      await client.query(`SET LOCAL statement_timeout = ${Math.trunc(timeout * 2)}`);
      const { rows } = await client.query<{ version: number }>(
        `SELECT version FROM ${this.table} WHERE id`,
      );
      await client.query('COMMIT');
      return rows[0]?.version;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      if (MISSING.has((err as { code?: string }).code ?? '')) return undefined;
      throw classifyPostgresError(err);
    } finally {
      client.release(broken);
    }
  }

  /** Throws SchemaNotReadyError unless the schema holds at least `needed`. */
  async check(needed = SCHEMA_VERSION): Promise<number> {
    const found = await this.read();
    const where = `PostgreSQL schema "${this.options.schema}"`;
    if (found === undefined) {
      throw new SchemaNotReadyError(
        `${where} has no Stowage tables (no schema_version): run \`stowage init\` first`,
      );
    }
    if (found < needed) {
      throw new SchemaNotReadyError(
        `${where} is at schema version ${found}, this build needs ${needed}: run \`stowage init\``,
      );
    }
    return found;
  }
}

/** Throws SchemaNotReadyError unless the ClickHouse hot-store table exists (a read, no DDL). */
export async function checkClickHouseTable(
  client: ClickHouseClient,
  database: string,
  // ClickHouseHotStore's table.
  table = 'ioc_sightings',
): Promise<void> {
  if (!CLICKHOUSE_NAME.test(database) || !CLICKHOUSE_NAME.test(table)) {
    throw new TypeError(`not a plain ClickHouse identifier: ${database}.${table}`);
  }
  const result = await client.query({
    query: `EXISTS TABLE ${database}.${table}`,
    format: 'TabSeparated',
  });
  const text = (await result.text()).trim();
  if (text !== '1') {
    throw new SchemaNotReadyError(
      `ClickHouse table ${database}.${table} is missing (HOT_STORE=clickhouse): run \`stowage init\` first`,
    );
  }
}
