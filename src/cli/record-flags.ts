import { parseArgs } from 'node:util';
import type { z } from 'zod';
import { ValidationError, type FieldIssue } from '../errors/index.js';
import { UsageError } from './usage-error.js';

// The record commands (iocs, activities, detections, artifacts) take the api's own query
// and body fields as flags, and check them with the use case's own schema: a flag is a
// field spelled `--kebab-case`, and an error names the flag the operator typed, not the
// field it became.

/** How a command's flags and positionals map onto the fields its use case validates. */
export interface RecordFlags {
  /** `flag name (without --)` → the field it fills; each takes a value. */
  strings?: Record<string, string>;
  /** `flag name` → the field it sets to the string `'true'` (a query string's boolean). */
  booleans?: Record<string, string>;
  /** Positional names in order; each fills the field of the same name. */
  positionals?: readonly string[];
  /** Short options, `-o` → `output` (the flag must be in `strings`). */
  short?: Record<string, string>;
}

/** What the operator typed, keyed by the field each part fills. */
export interface ParsedFlags {
  /** Fields from flags, only those given. */
  fields: Record<string, string>;
  /** Positionals by name. */
  positional: Record<string, string>;
}

/** Parses a record command's arguments; a UsageError names an unknown flag or a missing positional. */
export function parseRecordFlags(command: string, args: string[], spec: RecordFlags): ParsedFlags {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    // Always JSON already; accepted so that scripts can pass it as to every other command.
    json: { type: 'boolean' },
  };
  for (const flag of Object.keys(spec.strings ?? {})) options[flag] = { type: 'string' };
  for (const flag of Object.keys(spec.booleans ?? {})) options[flag] = { type: 'boolean' };
  for (const [short, flag] of Object.entries(spec.short ?? {})) {
    const option = options[flag];
    if (option) option.short = short;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${command}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const fields: Record<string, string> = {};
  for (const [flag, field] of Object.entries(spec.strings ?? {})) {
    const value = parsed.values[flag];
    if (typeof value === 'string') fields[field] = value;
  }
  for (const [flag, field] of Object.entries(spec.booleans ?? {})) {
    if (parsed.values[flag] === true) fields[field] = 'true';
  }
  const names = spec.positionals ?? [];
  const got = parsed.positionals;
  if (got.length < names.length) throw new UsageError(`${command}: missing <${names[got.length]}>`);
  if (got.length > names.length) {
    throw new UsageError(`${command}: unexpected argument "${got[names.length]}"`);
  }
  const positional: Record<string, string> = {};
  names.forEach((name, i) => (positional[name] = got[i]!));
  return { fields, positional };
}

/** How a field is named on the command line: `--flag` or `<positional>`; the field otherwise. */
export function flagOf(spec: RecordFlags, field: string): string {
  const flag = Object.entries({ ...spec.strings, ...spec.booleans }).find(([, f]) => f === field);
  if (flag) return `--${flag[0]}`;
  if (spec.positionals?.includes(field)) return `<${field}>`;
  return field;
}

/** A use case's ValidationError as a usage error naming each failing flag (exit 2). */
export function usageErrorOf(command: string, spec: RecordFlags, err: ValidationError): UsageError {
  const issues: FieldIssue[] =
    err.issues.length > 0 ? err.issues : [{ path: '', message: err.message }];
  return new UsageError(
    `${command}: ${issues
      .map((i) => {
        // `start_time.x` (a nested path) is still the start_time flag.
        const [head = '', ...rest] = i.path.split('.');
        const name = head === '' ? '' : [flagOf(spec, head), ...rest].join('.');
        return name === '' ? i.message : `${name}: ${i.message}`;
      })
      .join('; ')}`,
  );
}

/** Checks fields with a use case's schema; a failure is a usage error naming the flags. */
export function parseWith<S extends z.ZodType>(
  command: string,
  spec: RecordFlags,
  schema: S,
  fields: Record<string, unknown>,
): z.output<S> {
  const parsed = schema.safeParse(fields);
  if (!parsed.success) throw usageErrorOf(command, spec, ValidationError.fromZod(parsed.error));
  return parsed.data;
}

/** Runs a use case, turning its ValidationError (a bad cursor, a window too wide) into a usage error. */
export async function asUsage<T>(
  command: string,
  spec: RecordFlags,
  run: () => Promise<T> | T,
): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof ValidationError) throw usageErrorOf(command, spec, err);
    throw err;
  }
}

/** Runs a use case's synchronous check (a key, an indicator), its ValidationError a usage error. */
export function checkAsUsage<T>(command: string, spec: RecordFlags, check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof ValidationError) throw usageErrorOf(command, spec, err);
    throw err;
  }
}
