import type { Config } from '../../config.js';
import { ClickHouseRecordStore } from '../clickhouse/record-store.js';
import { PostgresRecordStore } from '../postgres/record-store.js';
import type { HotBackendClients } from './create-hot-backend.js';
import type { RecordStore } from './record-store.js';

/** Builds the hot record store on the backend HOT_STORE selects (call `init()` before use). */
export function createRecordStore(
  config: Pick<Config, 'HOT_STORE' | 'DATABASE_SCHEMA' | 'CLICKHOUSE_DATABASE'>,
  clients: HotBackendClients,
): RecordStore {
  switch (config.HOT_STORE) {
    case 'postgres':
      return new PostgresRecordStore(clients.pg, { schema: config.DATABASE_SCHEMA });
    case 'clickhouse': {
      const client = clients.clickhouse;
      if (client === undefined) throw new Error('HOT_STORE=clickhouse needs a ClickHouse client');
      return new ClickHouseRecordStore(client, { database: config.CLICKHOUSE_DATABASE });
    }
  }
}
