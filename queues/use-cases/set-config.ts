import {
  configValueBytes,
  MAX_CONFIG_VALUE_BYTES,
  type ConfigEntry,
} from '../../src/domain/config-entry.js';
import { ConfigVersionConflictError } from '../../src/errors/config-version-conflict-error.js';
import { PermanentError, ValidationError } from '../../src/errors/index.js';
import type { PostgresConfigStore } from '../../src/stores/postgres/config-store.js';

/** What a write stored: the new version, and whether it created the key. */
export interface ConfigWritten {
  entry: ConfigEntry;
  created: boolean;
}

/**
 * Writes a configuration value as the version after `version` (0 or absent: create the
 * key). 413 naming `value` over MAX_CONFIG_VALUE_BYTES, 400 naming `value` for text
 * PostgreSQL cannot keep, ConfigVersionConflictError (409) when `version` is not current.
 */
export async function setConfig(
  input: { key: string; value: unknown; version?: number | undefined; updatedBy: string },
  deps: { config: Pick<PostgresConfigStore, 'put'> },
): Promise<ConfigWritten> {
  const bytes = configValueBytes(input.value);
  if (bytes > MAX_CONFIG_VALUE_BYTES) {
    const message = `is ${bytes} bytes as JSON; at most ${MAX_CONFIG_VALUE_BYTES}`;
    throw new PermanentError('payload_too_large', `config value ${message}`, {
      errors: [{ path: 'value', message }],
    });
  }
  const unstorable = unstorableText(input.value);
  if (unstorable !== undefined) throw new ValidationError([{ path: unstorable, message: NO_NUL }]);
  const expected = input.version ?? 0;
  const result = await deps.config.put(input.key, input.value, expected, input.updatedBy);
  if (result.outcome === 'stale') {
    throw new ConfigVersionConflictError(input.key, expected, result.currentVersion);
  }
  return { entry: result.entry, created: result.created };
}

const NO_NUL = 'must not contain NUL or unpaired surrogates (PostgreSQL jsonb cannot keep them)';

/** The path (`value.a.0`) of the first string or object key jsonb cannot keep, if any. */
function unstorableText(value: unknown, path = 'value'): string | undefined {
  const bad = (s: string) => s.includes('\u0000') || /\p{Cs}/u.test(s);
  if (typeof value === 'string') return bad(value) ? path : undefined;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = unstorableText(item, `${path}.${i}`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (value !== null && typeof value === 'object') {
    for (const [k, item] of Object.entries(value)) {
      if (bad(k)) return `${path}.${k}`;
      const found = unstorableText(item, `${path}.${k}`);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}
