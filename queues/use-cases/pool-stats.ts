import type pg from 'pg';
import type { PoolStats } from '../../src/domain/api/ioc-search.js';

/** The PostgreSQL pool's size and use, as pg.Pool counts them (this process only). */
export function poolStats(
  pool: Pick<pg.Pool, 'totalCount' | 'idleCount' | 'waitingCount' | 'options'>,
): PoolStats {
  return {
    postgres: {
      max: pool.options.max ?? 10,
      total: pool.totalCount,
      idle: pool.idleCount,
      in_use: pool.totalCount - pool.idleCount,
      waiting: pool.waitingCount,
    },
  };
}
