import type pg from 'pg';
import { classifyPostgresError } from './classify-postgres-error.js';

/** A schema name safe to inline into SQL (identifiers cannot be parameters). */
export const POSTGRES_SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

// SQLSTATEs of a catalog collision between concurrent CREATE … IF NOT EXISTS.
const DUPLICATE_OBJECT_CODES = new Set(['23505', '42P06', '42P07', '42710']);

/** Throws unless `schema` is a plain PostgreSQL schema name. */
export function assertSchemaName(schema: string): void {
  if (!POSTGRES_SCHEMA_NAME.test(schema)) {
    throw new TypeError(`not a plain PostgreSQL schema name: ${JSON.stringify(schema)}`);
  }
}

/**
 * Runs a store's DDL (for `stowage init` only) in one transaction on `schema`, created when
 * missing. Every store of a schema takes the same advisory lock, so inits running together
 * take turns; a component creating the schema without that lock can still collide in the
 * catalog, and the second attempt then finds everything there.
 */
export async function applySchemaDdl(
  pool: pg.Pool,
  schema: string,
  ddl: (client: pg.PoolClient) => Promise<void>,
): Promise<void> {
  try {
    await inTransaction(pool, schema, ddl);
  } catch (err) {
    if (!DUPLICATE_OBJECT_CODES.has((err as { code?: string }).code ?? '')) {
      throw classifyPostgresError(err);
    }
    await inTransaction(pool, schema, ddl).catch((again: unknown) => {
      throw classifyPostgresError(again);
    });
  }
}

async function inTransaction(
  pool: pg.Pool,
  schema: string,
  ddl: (client: pg.PoolClient) => Promise<void>,
): Promise<void> {
  assertSchemaName(schema);
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`stowage:init:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await ddl(client);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw err;
  } finally {
    client.release(broken);
  }
}
