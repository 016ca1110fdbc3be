// A PostgreSQL connection terminated under a checked-out client (what a server restart does
// to every connection: 57P01) must reject that client's query, not crash the process on an
// unhandled 'error' event. Vitest fails the run on an uncaught error, and the process-level
// listener below counts them, so a crash would show twice.
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createPgPool } from '../../src/connections/postgres.js';
import { TransientError } from '../../src/errors/index.js';
import { createLogger } from '../../src/log.js';
import { classifyPostgresError } from '../../src/stores/postgres/classify-postgres-error.js';

describe('a checked-out PostgreSQL client losing its server', () => {
  const url = loadConfig(process.env).DATABASE_URL;
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  let admin: pg.Pool;
  let pool: pg.Pool;

  beforeAll(() => {
    process.on('uncaughtException', onUncaught);
    admin = new pg.Pool({ connectionString: url, max: 1 });
    pool = createPgPool(url, 2, createLogger({ LOG_LEVEL: 'silent', LOG_PRETTY: false }));
  });
  afterEach(() => expect(uncaught).toEqual([]));
  afterAll(async () => {
    process.off('uncaughtException', onUncaught);
    await pool.end();
    await admin.end();
  });

  /** Ends a backend as `pg_ctl stop -m fast` does: FATAL 57P01 to its client. */
  async function terminate(pid: number): Promise<void> {
    const { rows } = await admin.query<{ ok: boolean }>('select pg_terminate_backend($1) as ok', [
      pid,
    ]);
    expect(rows[0]?.ok).toBe(true);
  }

  it('a plain pg.Pool leaves a checked-out client without an error listener (the defect)', async () => {
    const plain = new pg.Pool({ connectionString: url, max: 1 });
    const client = await plain.connect();
    try {
      expect(client.listenerCount('error')).toBe(0);
    } finally {
      client.release();
      await plain.end();
    }
  });

  it('an idle-in-transaction client: the error is handled, the next query rejects as backend_unavailable, the pool recovers', async () => {
    const client = await pool.connect();
    let released = false;
    onTestFinished(() => {
      if (!released) client.release(true);
    });
    expect(client.listenerCount('error')).toBeGreaterThan(0);
    await client.query('begin');
    const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
    await terminate(rows[0]!.pid);
    // The FATAL arrives on the idle socket as an 'error' event: without a listener, a crash.
    await new Promise((r) => setTimeout(r, 300));
    const err = await client.query('select 1').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    const classified = classifyPostgresError(err);
    expect(classified).toBeInstanceOf(TransientError);
    expect(classified.code).toBe('backend_unavailable');
    client.release(err as Error);
    released = true;
    const again = await pool.query<{ one: number }>('select 1 as one');
    expect(again.rows[0]?.one).toBe(1);
  });

  it('a query in flight: it rejects as backend_unavailable (57P01), nothing else happens', async () => {
    const client = await pool.connect();
    const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
    const slow = client.query('select pg_sleep(5)').then(
      () => undefined,
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 200));
    await terminate(rows[0]!.pid);
    const err = await slow;
    const classified = classifyPostgresError(err);
    expect(classified.code).toBe('backend_unavailable');
    expect(classified.context).toMatchObject({ sqlState: '57P01' });
    client.release(err as Error);
    expect((await pool.query('select 1')).rowCount).toBe(1);
  });
});
