import { parseArgs } from 'node:util';
import { z } from 'zod';
import { configKeySchema, MAX_CONFIG_LIST_LIMIT } from '../domain/config-entry.js';
import { UsageError } from './usage-error.js';

/** What `stowage config …` was asked. */
export type ConfigCommand =
  | { command: 'config-get'; key: string; version?: number | undefined; json: boolean }
  | {
      command: 'config-set';
      key: string;
      value: unknown;
      version?: number | undefined;
      by?: string | undefined;
      json: boolean;
    }
  | { command: 'config-list'; cursor?: string | undefined; limit: number; json: boolean };

const versionSchema = z.coerce.number().int().min(0).max(2_147_483_647);
const byName = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .refine((s) => !/[\p{Cc}\p{Cs}]/u.test(s), 'must not contain control characters');

/** Parses `config get|set|list …`; a usage error names the option. */
export function parseConfigArgs(args: string[]): ConfigCommand {
  const [sub, ...rest] = args;
  const parse = <O extends Record<string, { type: 'string' | 'boolean'; default?: boolean }>>(
    options: O,
  ) => {
    try {
      return parseArgs({
        args: rest,
        options: { ...options, json: { type: 'boolean', default: false } },
        allowPositionals: true,
        strict: true,
      });
    } catch (err) {
      throw new UsageError(`config ${sub}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  const key = (positionals: string[], command: string): string => {
    if (positionals.length === 0) throw new UsageError(`${command}: missing <key>`);
    if (positionals.length > 1) {
      throw new UsageError(`${command}: unexpected argument "${positionals[1]}"`);
    }
    const parsed = configKeySchema.safeParse(positionals[0]);
    if (!parsed.success) {
      throw new UsageError(
        `${command}: key "${positionals[0]}" ${parsed.error.issues[0]?.message ?? 'is invalid'}`,
      );
    }
    return parsed.data;
  };
  const version = (raw: string | undefined, command: string, min: number) => {
    if (raw === undefined) return undefined;
    const parsed = versionSchema.min(min).safeParse(raw);
    if (!parsed.success) {
      throw new UsageError(`${command}: --version "${raw}" must be an integer ${min} or more`);
    }
    return parsed.data;
  };
  if (sub === 'get') {
    const { values, positionals } = parse({ version: { type: 'string' } });
    return {
      command: 'config-get',
      key: key(positionals, 'config get'),
      version: version(values.version, 'config get', 1),
      json: values.json === true,
    };
  }
  if (sub === 'set') {
    const { values, positionals } = parse({
      value: { type: 'string' },
      version: { type: 'string' },
      by: { type: 'string' },
    });
    const raw = values.value;
    if (raw === undefined) throw new UsageError('config set: missing --value JSON');
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      throw new UsageError('config set: --value must be JSON (a string needs its quotes: \'"x"\')');
    }
    let by: string | undefined;
    if (values.by !== undefined) {
      const parsed = byName.safeParse(values.by);
      if (!parsed.success) {
        throw new UsageError(`config set: --by ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
      }
      by = parsed.data;
    }
    return {
      command: 'config-set',
      key: key(positionals, 'config set'),
      value,
      version: version(values.version, 'config set', 0),
      by,
      json: values.json === true,
    };
  }
  if (sub === 'list') {
    const { values, positionals } = parse({
      cursor: { type: 'string' },
      limit: { type: 'string' },
    });
    if (positionals.length > 0) {
      throw new UsageError(`config list: unexpected argument "${positionals[0]}"`);
    }
    const cursor = values.cursor;
    if (cursor !== undefined && !configKeySchema.safeParse(cursor).success) {
      throw new UsageError(`config list: --cursor "${cursor}" is not a config key`);
    }
    const limitRaw = values.limit ?? '100';
    const limit = z.coerce.number().int().min(1).max(MAX_CONFIG_LIST_LIMIT).safeParse(limitRaw);
    if (!limit.success) {
      throw new UsageError(`config list: --limit must be 1..${MAX_CONFIG_LIST_LIMIT}`);
    }
    return { command: 'config-list', cursor, limit: limit.data, json: values.json === true };
  }
  throw new UsageError(`config: expected get, set or list, not "${sub ?? ''}"`);
}
