import type { Config } from '../../config.js';
import { ClickHouseHotRetention } from '../clickhouse/clickhouse-hot-retention.js';
import type { HotStoreDeps } from './create-hot-store.js';
import type { HotRetention } from './hot-retention.js';
import { PostgresHotRetention } from '../postgres/postgres-hot-retention.js';

/** Builds retention over the hot store HOT_STORE selects (the same schema or database). */
export function createHotRetention(
  config: Pick<Config, 'HOT_STORE' | 'DATABASE_SCHEMA' | 'CLICKHOUSE_DATABASE'>,
  deps: HotStoreDeps,
): HotRetention {
  // Each branch touches only its own client: Deps opens connections on first access.
  switch (config.HOT_STORE) {
    case 'postgres':
      return new PostgresHotRetention(deps.pg, { schema: config.DATABASE_SCHEMA });
    case 'clickhouse':
      return new ClickHouseHotRetention(deps.clickhouse, { database: config.CLICKHOUSE_DATABASE });
  }
}
