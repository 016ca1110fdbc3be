import pg from 'pg';

/** A PostgreSQL pool; connections open on first use. */
export function createPgPool(url: string, max = 10): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its server must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  return pool;
}

/** Answers whether PostgreSQL runs a trivial query. */
export async function pingPostgres(pool: pg.Pool): Promise<void> {
  await pool.query('select 1');
}
