import type { Config } from '../../config.js';
import { ClickHouseActivityStore } from '../clickhouse/activity-store.js';
import { PostgresActivityStore } from '../postgres/activity-store.js';
import { ActivityDayLocks } from '../postgres/activity-day-locks.js';
import type { ActivityStore } from './activity-store.js';
import type { HotBackendClients } from './create-hot-backend.js';

/** Builds the activity store on the backend HOT_STORE selects (call `init()` before use). */
export function createActivityStore(
  config: Pick<Config, 'HOT_STORE' | 'DATABASE_SCHEMA' | 'CLICKHOUSE_DATABASE'>,
  clients: HotBackendClients,
): ActivityStore {
  switch (config.HOT_STORE) {
    case 'postgres':
      return new PostgresActivityStore(clients.pg, { schema: config.DATABASE_SCHEMA });
    case 'clickhouse': {
      const client = clients.clickhouse;
      if (client === undefined) throw new Error('HOT_STORE=clickhouse needs a ClickHouse client');
      return new ClickHouseActivityStore(client, {
        database: config.CLICKHOUSE_DATABASE,
        // ClickHouse has no transactions: retention and inserts meet on PostgreSQL locks.
        dayLocks: new ActivityDayLocks(clients.pg, `clickhouse:${config.CLICKHOUSE_DATABASE}`),
      });
    }
  }
}
