import type { ConfigEntry } from '../../src/domain/config-entry.js';
import { NotFoundError } from '../../src/errors/index.js';
import type { PostgresConfigStore } from '../../src/stores/postgres/config-store.js';

/** A key's current value, or the version asked for; a NotFoundError naming `key` or `version`. */
export async function getConfig(
  input: { key: string; version?: number | undefined },
  deps: { config: Pick<PostgresConfigStore, 'get'> },
): Promise<ConfigEntry> {
  const entry = await deps.config.get(input.key, input.version);
  if (entry) return entry;
  if (input.version === undefined) {
    throw new NotFoundError(`no config key "${input.key}"`, { key: input.key }, [
      { path: 'key', message: 'no such config key' },
    ]);
  }
  throw new NotFoundError(
    `config key "${input.key}" has no version ${input.version}`,
    { key: input.key, version: input.version },
    [{ path: 'version', message: 'no such version of this key' }],
  );
}
