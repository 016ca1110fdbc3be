import pg from 'pg';
import type { Logger } from '../log.js';

/** How often (at most) a lost PostgreSQL connection is logged: an outage drops every client at once. */
const WARN_EVERY_MS = 10_000;

/**
 * A PostgreSQL pool; connections open on first use. Every client it makes gets an 'error'
 * listener, so a server restart (57P01) or a reset socket under a checked-out client —
 * `pool.connect()` in a transaction — rejects that client's query instead of crashing the
 * process on an unhandled 'error' event.
 */
export function createPgPool(url: string, max = 10, log?: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  let lastWarning = 0;
  const onError = (err: Error) => {
    if (Date.now() - lastWarning < WARN_EVERY_MS) return;
    lastWarning = Date.now();
    const code = (err as { code?: unknown }).code;
    log?.warn({ err: err.message, code }, 'postgres connection error; the next query reconnects');
  };
  // pg-pool listens on idle clients only and emits their errors here; a checked-out client
  // has no listener of the pool's, so each client gets its own for its whole life. pg still
  // rejects the in-flight query (and a released broken client is discarded by the pool).
  pool.on('connect', (client) => client.on('error', onError));
  pool.on('error', onError);
  return pool;
}

/** Answers whether PostgreSQL runs a trivial query. */
export async function pingPostgres(pool: pg.Pool): Promise<void> {
  await pool.query('select 1');
}
