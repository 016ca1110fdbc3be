import type { ClickHouseClient } from '@clickhouse/client';
import type pg from 'pg';
import type { Config } from '../../config.js';
import { ClickHouseHotStore } from '../clickhouse/clickhouse-hot-store.js';
import type { HotStore } from './hot-store.js';
import { PostgresHotStore } from '../postgres/postgres-hot-store.js';

/** The clients a hot store may need; only the selected backend's is read. */
export interface HotStoreDeps {
  readonly pg: pg.Pool;
  readonly clickhouse: ClickHouseClient;
}

/** Builds the hot store HOT_STORE selects (call `init()` before use). */
export function createHotStore(
  config: Pick<Config, 'HOT_STORE' | 'DATABASE_SCHEMA' | 'CLICKHOUSE_DATABASE'>,
  deps: HotStoreDeps,
): HotStore {
  // Each branch touches only its own client: Deps opens connections on first access.
  switch (config.HOT_STORE) {
    case 'postgres':
      return new PostgresHotStore(deps.pg, { schema: config.DATABASE_SCHEMA });
    case 'clickhouse':
      return new ClickHouseHotStore(deps.clickhouse, { database: config.CLICKHOUSE_DATABASE });
  }
}
