import { createHash } from 'node:crypto';
import type pg from 'pg';
import { classifyPostgresError } from './classify-postgres-error.js';

/**
 * Per-day advisory locks in PostgreSQL for a store that has no transactions of its own
 * (activity events in ClickHouse): inserts into a day hold its lock shared, retention holds
 * it exclusive while it counts a day's partition and drops it, so no event lands between
 * the count and the drop. (ClickHouse's `MOVE PARTITION … TO TABLE`, which would make the
 * drop safe by itself, does not exist in the 18.x servers Stowage supports.)
 */
export class ActivityDayLocks {
  constructor(
    private readonly pool: pg.Pool,
    /** Names the locked table (`clickhouse:<database>`): two databases never share a lock. */
    private readonly namespace: string,
  ) {}

  /** Runs `work` holding the days' locks shared (in key order, so lockers never deadlock). */
  async shared<T>(days: readonly string[], work: () => Promise<T>): Promise<T> {
    const keys = [...new Set(days)].map((d) => this.key(d)).sort();
    return this.holding(keys, 'pg_advisory_xact_lock_shared', undefined, work);
  }

  /**
   * Runs `work` holding a day's lock exclusive: inserts into the day wait until it returns.
   * Waits at most `timeoutMs` for inserts in flight (then a TransientError).
   */
  async exclusive<T>(day: string, timeoutMs: number, work: () => Promise<T>): Promise<T> {
    return this.holding([this.key(day)], 'pg_advisory_xact_lock', timeoutMs, work);
  }

  private async holding<T>(
    keys: readonly string[],
    fn: 'pg_advisory_xact_lock_shared' | 'pg_advisory_xact_lock',
    timeoutMs: number | undefined,
    work: () => Promise<T>,
  ): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw classifyPostgresError(err);
    }
    let broken = false;
    try {
      try {
        await client.query('BEGIN');
        if (timeoutMs !== undefined) {
          await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.trunc(timeoutMs))}`);
        }
        for (const key of keys) await client.query(`SELECT ${fn}($1::bigint)`, [key]);
      } catch (err) {
        throw classifyPostgresError(err);
      }
      const result = await work();
      await client.query('COMMIT').catch((err: unknown) => {
        throw classifyPostgresError(err);
      });
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }

  private key(day: string): string {
    return createHash('sha256')
      .update(`stowage:activity-day:${this.namespace}:${day}`)
      .digest()
      .readBigInt64BE(0)
      .toString();
  }
}
