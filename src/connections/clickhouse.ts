import { createClient, type ClickHouseClient } from '@clickhouse/client';
import type { Config } from '../config.js';

/** A ClickHouse HTTP client; the database itself is created by the hot store's schema step. */
export function createClickHouse(
  config: Pick<Config, 'CLICKHOUSE_URL' | 'CLICKHOUSE_USER' | 'CLICKHOUSE_PASSWORD'>,
): ClickHouseClient {
  return createClient({
    url: config.CLICKHOUSE_URL,
    username: config.CLICKHOUSE_USER,
    password: config.CLICKHOUSE_PASSWORD,
    request_timeout: 60_000,
  });
}

/** Answers whether ClickHouse answers its ping. */
export async function pingClickHouse(client: ClickHouseClient): Promise<void> {
  const result = await client.ping();
  if (!result.success) throw result.error;
}
