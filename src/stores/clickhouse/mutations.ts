import type { ClickHouseClient } from '@clickhouse/client';
import { TransientError } from '../../errors/index.js';
import { classifyClickHouseError } from './classify-clickhouse-error.js';
import { clickHouseLiteral } from './clickhouse-sql.js';

/** How long a caller waits for its mutations, and how often it looks. */
export interface MutationWait {
  timeoutMs: number;
  pollMs: number;
}

/** A table whose mutations are watched: its database and bare name. */
export interface MutatedTable {
  database: string;
  table: string;
}

function mutationsOf({ database, table }: MutatedTable): string {
  return `FROM system.mutations
          WHERE database = ${clickHouseLiteral(database)} AND table = ${clickHouseLiteral(table)}`;
}

async function select<T>(client: ClickHouseClient, query: string): Promise<T[]> {
  try {
    const result = await client.query({ query, format: 'JSONEachRow' });
    return await result.json<T>();
  } catch (err) {
    throw classifyClickHouseError(err);
  }
}

/** The ids of the table's mutations so far: what waitForMutations then leaves out. */
export async function mutationIds(
  client: ClickHouseClient,
  target: MutatedTable,
): Promise<Set<string>> {
  const rows = await select<{ mutation_id: string }>(
    client,
    `SELECT mutation_id ${mutationsOf(target)}`,
  );
  return new Set(rows.map((r) => r.mutation_id));
}

/**
 * Waits until every mutation of the table that is not in `before` is done (`ALTER … DELETE`
 * is asynchronous on 18.16, which has no mutations_sync). Only new ones: a mutation that
 * cannot finish stays not done for ever and must not stall every later caller; a concurrent
 * caller's new mutations are waited for too (harmless). Past the deadline a transient
 * `mutation_timeout`: the mutation keeps running, and a retry picks up whatever is left.
 */
export async function waitForMutations(
  client: ClickHouseClient,
  target: MutatedTable,
  before: ReadonlySet<string>,
  wait: MutationWait,
): Promise<void> {
  const deadline = Date.now() + wait.timeoutMs;
  for (;;) {
    const pending = (
      await select<{ mutation_id: string; parts_to_do: string | number }>(
        client,
        `SELECT mutation_id, parts_to_do ${mutationsOf(target)} AND is_done = 0`,
      )
    ).filter((m) => !before.has(m.mutation_id));
    if (pending.length === 0) return;
    if (Date.now() > deadline) {
      const table = `${target.database}.${target.table}`;
      throw new TransientError(
        'mutation_timeout',
        `ClickHouse mutation(s) ${pending.map((m) => m.mutation_id).join(', ')} on ${table} not done after ${wait.timeoutMs} ms`,
        { backend: 'clickhouse', table, parts_to_do: pending.map((m) => Number(m.parts_to_do)) },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, wait.pollMs));
  }
}
