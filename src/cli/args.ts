import { parseArgs, type ParseArgsConfig } from 'node:util';
import { z } from 'zod';
import { QUEUE_NAMES, type QueueName } from '../config.js';
import { unboundedTimestampSchema } from '../domain/timestamp.js';
import { rewindActorNameSchema, rewindReasonSchema, sourceIdSchema } from '../domain/watermark.js';
import { idempotencyKeySchema } from '../domain/idempotency-key.js';
import { parseConfigArgs, type ConfigCommand } from './config-args.js';
import { UsageError } from './usage-error.js';

/** An operator command, parsed and checked; what is left to check needs a backend. */
export type OperatorCommand =
  | {
      command: 'enqueue';
      type: string;
      payload: unknown;
      idempotencyKey?: string | undefined;
      json: boolean;
    }
  | { command: 'status'; jobId: string; queue?: QueueName | undefined; json: boolean }
  | {
      command: 'retry';
      jobId: string;
      queue?: QueueName | undefined;
      resetAttempts: boolean;
      json: boolean;
    }
  | { command: 'retry-all'; queue: QueueName; resetAttempts: boolean; json: boolean }
  | { command: 'pause' | 'resume'; queue: QueueName; json: boolean }
  | { command: 'counts'; json: boolean }
  | { command: 'watermarks-get'; sourceId?: string | undefined; json: boolean }
  | {
      command: 'watermarks-set';
      sourceId: string;
      timestamp: Date;
      force: boolean;
      /** Go back to an earlier timestamp (with a reason, audited); set only with --rewind. */
      rewind?: { reason: string; by?: string | undefined } | undefined;
      json: boolean;
    }
  | ConfigCommand;

/** What `stowage run` was asked. */
export interface RunOptions {
  job: string;
  dryRun: boolean;
  payload: Record<string, unknown>;
  reportPath?: string | undefined;
  wait: boolean;
}

type Options = NonNullable<ParseArgsConfig['options']>;

const JSON_OPTION = { json: { type: 'boolean', default: false } } as const satisfies Options;

/** node:util parseArgs in strict mode, its errors turned into usage errors naming the option. */
function parse<O extends Options>(command: string, args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    // parseArgs says e.g. "Unknown option '--queu'"; the command gives it context.
    throw new UsageError(`${command}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function positionals(command: string, got: string[], names: string[], optional = 0): string[] {
  const required = names.length - optional;
  if (got.length < required) {
    throw new UsageError(`${command}: missing <${names[got.length]}>`);
  }
  if (got.length > names.length) {
    throw new UsageError(`${command}: unexpected argument "${got[names.length]}"`);
  }
  return got;
}

const queueSchema = z.enum(QUEUE_NAMES);

function queueName(command: string, value: string | undefined, what = '--queue'): QueueName {
  const parsed = queueSchema.safeParse(value);
  if (!parsed.success) {
    throw new UsageError(
      `${command}: ${what} "${value ?? ''}" is not a queue; one of ${QUEUE_NAMES.join(', ')}`,
    );
  }
  return parsed.data;
}

function optionalQueue(command: string, value: string | undefined): QueueName | undefined {
  return value === undefined ? undefined : queueName(command, value);
}

function jsonValue(command: string, option: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UsageError(
      `${command}: ${option} is not valid JSON (${err instanceof Error ? err.message : String(err)})`,
    );
  }
}

/** Parses the arguments of an operator command; throws UsageError naming what is wrong. */
export function parseOperatorArgs(command: string, args: string[]): OperatorCommand {
  switch (command) {
    case 'enqueue': {
      const { values, positionals: pos } = parse(command, args, {
        ...JSON_OPTION,
        payload: { type: 'string' },
        'idempotency-key': { type: 'string' },
      });
      const [type] = positionals(command, pos, ['type']);
      if (values.payload === undefined) throw new UsageError('enqueue: missing --payload JSON');
      const key = values['idempotency-key'];
      if (key !== undefined) {
        const parsed = idempotencyKeySchema.safeParse(key);
        if (!parsed.success) {
          throw new UsageError(
            `enqueue: --idempotency-key ${parsed.error.issues[0]?.message ?? 'is invalid'} (1..255 visible ASCII characters)`,
          );
        }
      }
      return {
        command,
        type: type!,
        payload: jsonValue(command, '--payload', values.payload),
        idempotencyKey: key,
        json: values.json,
      };
    }
    case 'status': {
      const { values, positionals: pos } = parse(command, args, {
        ...JSON_OPTION,
        queue: { type: 'string' },
      });
      const [jobId] = positionals(command, pos, ['job-id']);
      return {
        command,
        jobId: jobId!,
        queue: optionalQueue(command, values.queue),
        json: values.json,
      };
    }
    case 'retry': {
      const { values, positionals: pos } = parse(command, args, {
        ...JSON_OPTION,
        queue: { type: 'string' },
        all: { type: 'boolean', default: false },
        'reset-attempts': { type: 'boolean', default: false },
      });
      const common = { resetAttempts: values['reset-attempts'], json: values.json };
      if (values.all) {
        if (pos.length > 0) {
          throw new UsageError('retry: give either <job-id> or --all --queue <queue>, not both');
        }
        if (values.queue === undefined) {
          throw new UsageError('retry --all: missing --queue <queue> (which queue to retry)');
        }
        return { command: 'retry-all', queue: queueName(command, values.queue), ...common };
      }
      const [jobId] = positionals(command, pos, ['job-id']);
      return {
        command,
        jobId: jobId!,
        queue: optionalQueue(command, values.queue),
        ...common,
      };
    }
    case 'pause':
    case 'resume': {
      const { values, positionals: pos } = parse(command, args, JSON_OPTION);
      const [queue] = positionals(command, pos, ['queue']);
      return { command, queue: queueName(command, queue, 'queue'), json: values.json };
    }
    case 'counts': {
      const { values, positionals: pos } = parse(command, args, JSON_OPTION);
      positionals(command, pos, []);
      return { command, json: values.json };
    }
    case 'watermarks':
      return parseWatermarks(args);
    case 'config':
      return parseConfigArgs(args);
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

function sourceId(command: string, value: string): string {
  const parsed = sourceIdSchema.safeParse(value);
  if (!parsed.success) {
    throw new UsageError(
      `${command}: source_id "${value}" ${parsed.error.issues[0]?.message ?? 'is invalid'}`,
    );
  }
  return parsed.data;
}

/** The text of a rewind's --reason or --by: required, trimmed, storable, bounded. */
function rewindActorText(
  option: string,
  value: string | undefined,
  schema: z.ZodType<string>,
): string {
  if (value === undefined) {
    throw new UsageError(`watermarks set --rewind: missing ${option} TEXT (kept in the audit row)`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new UsageError(
      `watermarks set: ${option} ${parsed.error.issues[0]?.message ?? 'is invalid'}`,
    );
  }
  return parsed.data;
}

function parseWatermarks(args: string[]): OperatorCommand {
  const [sub, ...rest] = args;
  if (sub === 'get') {
    const { values, positionals: pos } = parse('watermarks get', rest, JSON_OPTION);
    const [id] = positionals('watermarks get', pos, ['source_id'], 1);
    return {
      command: 'watermarks-get',
      sourceId: id === undefined ? undefined : sourceId('watermarks get', id),
      json: values.json,
    };
  }
  if (sub === 'set') {
    const { values, positionals: pos } = parse('watermarks set', rest, {
      ...JSON_OPTION,
      timestamp: { type: 'string' },
      force: { type: 'boolean', default: false },
      rewind: { type: 'boolean', default: false },
      reason: { type: 'string' },
      by: { type: 'string' },
    });
    const [id] = positionals('watermarks set', pos, ['source_id']);
    if (values.timestamp === undefined) {
      throw new UsageError('watermarks set: missing --timestamp ISO (e.g. 2024-01-01T12:30:00Z)');
    }
    // The bounds come with the configuration, loaded after the arguments; the command checks them.
    const timestamp = unboundedTimestampSchema.safeParse(values.timestamp);
    if (!timestamp.success) {
      throw new UsageError(
        `watermarks set: --timestamp "${values.timestamp}" must be an ISO 8601 timestamp such as 2024-01-01T12:30:00Z`,
      );
    }
    if (!values.rewind && (values.reason !== undefined || values.by !== undefined)) {
      throw new UsageError('watermarks set: --reason and --by go with --rewind');
    }
    if (values.rewind && values.force) {
      throw new UsageError('watermarks set: --rewind moves an existing watermark; drop --force');
    }
    let rewind: { reason: string; by?: string | undefined } | undefined;
    if (values.rewind) {
      const reason = rewindActorText('--reason', values.reason, rewindReasonSchema);
      const by =
        values.by === undefined
          ? undefined
          : rewindActorText('--by', values.by, rewindActorNameSchema);
      rewind = { reason, by };
    }
    return {
      command: 'watermarks-set',
      sourceId: sourceId('watermarks set', id!),
      timestamp: timestamp.data,
      force: values.force,
      rewind,
      json: values.json,
    };
  }
  throw new UsageError(
    `watermarks: ${sub === undefined ? 'missing' : `unknown subcommand "${sub}";`} get [source_id] or set <source_id> --timestamp ISO [--rewind --reason TEXT]`,
  );
}

/** Parses `stowage schedules [--json]`. */
export function parseSchedulesArgs(args: string[]): { json: boolean } {
  const { values, positionals: pos } = parse('schedules', args, JSON_OPTION);
  positionals('schedules', pos, []);
  return { json: values.json };
}

/** Parses `stowage run <job> [--dry-run] [--payload JSON] [--report FILE] [--no-wait]`. */
export function parseRunArgs(args: string[]): RunOptions {
  const { values, positionals: pos } = parse('run', args, {
    'dry-run': { type: 'boolean', default: false },
    payload: { type: 'string', default: '{}' },
    report: { type: 'string' },
    'no-wait': { type: 'boolean', default: false },
  });
  const [job] = positionals('run', pos, ['job']);
  const payload = jsonValue('run', '--payload', values.payload);
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new UsageError('run: --payload must be a JSON object');
  }
  return {
    job: job!,
    dryRun: values['dry-run'],
    payload: payload as Record<string, unknown>,
    reportPath: values.report,
    wait: !values['no-wait'],
  };
}
