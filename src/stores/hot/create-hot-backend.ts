import type { ClickHouseClient } from '@clickhouse/client';
import type pg from 'pg';
import type { Config } from '../../config.js';
import { ClickHouseHotRetention } from '../clickhouse/clickhouse-hot-retention.js';
import { ClickHouseHotStore } from '../clickhouse/clickhouse-hot-store.js';
import { ClickHouseIocSearch } from '../clickhouse/clickhouse-ioc-search.js';
import { PostgresHotRetention } from '../postgres/postgres-hot-retention.js';
import { PostgresHotStore } from '../postgres/postgres-hot-store.js';
import { PostgresIocSearch } from '../postgres/postgres-ioc-search.js';
import type { HotRetention } from './hot-retention.js';
import type { HotStore } from './hot-store.js';
import type { IocSearch } from './ioc-search.js';

/** The clients a hot backend may need; only the selected backend's is read. */
export interface HotBackendClients {
  readonly pg: pg.Pool;
  /** Needed only when HOT_STORE=clickhouse (a process on PostgreSQL builds none). */
  readonly clickhouse?: ClickHouseClient | undefined;
}

/** The hot IOC store and its retention, over one backend (the same schema or database). */
export interface HotBackend {
  readonly store: HotStore;
  readonly retention: HotRetention;
  /** Filtered search, statistics and delete over the same table. */
  readonly search: IocSearch;
}

/** Builds the hot backend HOT_STORE selects (call `store.init()` before use). */
export function createHotBackend(
  config: Pick<Config, 'HOT_STORE' | 'DATABASE_SCHEMA' | 'CLICKHOUSE_DATABASE'>,
  clients: HotBackendClients,
): HotBackend {
  // Each branch touches only its own client.
  switch (config.HOT_STORE) {
    case 'postgres': {
      const pool = clients.pg;
      const options = { schema: config.DATABASE_SCHEMA };
      return {
        store: new PostgresHotStore(pool, options),
        retention: new PostgresHotRetention(pool, options),
        search: new PostgresIocSearch(pool, options),
      };
    }
    case 'clickhouse': {
      const client = clients.clickhouse;
      if (client === undefined) throw new Error('HOT_STORE=clickhouse needs a ClickHouse client');
      const options = { database: config.CLICKHOUSE_DATABASE };
      return {
        store: new ClickHouseHotStore(client, options),
        retention: new ClickHouseHotRetention(client, options),
        search: new ClickHouseIocSearch(client, options),
      };
    }
  }
}
