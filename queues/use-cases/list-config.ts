import type { ConfigKeySummary } from '../../src/domain/config-entry.js';
import type { PostgresConfigStore } from '../../src/stores/postgres/config-store.js';

/** One page of configuration keys, and the cursor of the next (undefined on the last page). */
export interface ConfigPage {
  keys: ConfigKeySummary[];
  nextCursor: string | undefined;
}

/** Keys in byte order after `cursor` (the last key of the previous page), `limit` at most. */
export async function listConfig(
  input: { cursor?: string | undefined; limit: number },
  deps: { config: Pick<PostgresConfigStore, 'list'> },
): Promise<ConfigPage> {
  // One more than asked: a full page says whether another follows without a second query.
  const rows = await deps.config.list({ after: input.cursor, limit: input.limit + 1 });
  const keys = rows.slice(0, input.limit);
  const more = rows.length > input.limit;
  return { keys, nextCursor: more ? keys.at(-1)?.key : undefined };
}
