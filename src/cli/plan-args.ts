import { parseArgs } from 'node:util';
import { PLAN_STATUSES, type PlanStatus } from '../domain/maintenance-plan.js';
import { UsageError } from './usage-error.js';

/** What `stowage plans …` was asked. */
export type PlanCommand =
  | {
      command: 'plans-list';
      status?: PlanStatus | undefined;
      cursor?: string | undefined;
      limit: number;
      json: boolean;
    }
  | {
      command: 'plans-show';
      id: string;
      cursor?: number | undefined;
      limit: number;
      json: boolean;
    }
  | {
      command: 'plans-approve';
      id: string;
      digest: string;
      by?: string | undefined;
      json: boolean;
    };

const ID = /^[0-9]{1,18}$/;
const DIGEST = /^[0-9a-f]{64}$/;

/** Parses `plans list|show|approve …`; a usage error names the option. */
export function parsePlanArgs(args: string[]): PlanCommand {
  const [sub, ...rest] = args;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: {
        status: { type: 'string' },
        cursor: { type: 'string' },
        limit: { type: 'string' },
        digest: { type: 'string' },
        by: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(`plans ${sub}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const { values, positionals } = parsed;
  const limit = values.limit === undefined ? 20 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1_000) {
    throw new UsageError(`plans ${sub}: --limit must be an integer from 1 to 1000`);
  }
  const only = (allowed: string[]) => {
    for (const name of ['status', 'cursor', 'digest', 'by'] as const) {
      if (values[name] !== undefined && !allowed.includes(name)) {
        throw new UsageError(`plans ${sub}: --${name} does not apply`);
      }
    }
  };
  const id = (): string => {
    const [value, extra] = positionals;
    if (value === undefined) throw new UsageError(`plans ${sub}: missing <plan-id>`);
    if (extra !== undefined) throw new UsageError(`plans ${sub}: unexpected argument "${extra}"`);
    if (!ID.test(value)) throw new UsageError(`plans ${sub}: "${value}" is not a plan id`);
    return value;
  };
  if (sub === 'list') {
    only(['status', 'cursor']);
    if (positionals.length > 0) {
      throw new UsageError(`plans list: unexpected argument "${positionals[0]}"`);
    }
    const status = values.status;
    if (status !== undefined && !(PLAN_STATUSES as readonly string[]).includes(status)) {
      throw new UsageError(`plans list: --status must be one of ${PLAN_STATUSES.join(', ')}`);
    }
    if (values.cursor !== undefined && !ID.test(values.cursor)) {
      throw new UsageError('plans list: --cursor is a plan id');
    }
    return {
      command: 'plans-list',
      status: status as PlanStatus | undefined,
      cursor: values.cursor,
      limit,
      json: values.json,
    };
  }
  if (sub === 'show') {
    only(['cursor']);
    const cursor = values.cursor === undefined ? undefined : Number(values.cursor);
    if (cursor !== undefined && (!Number.isInteger(cursor) || cursor < 0)) {
      throw new UsageError('plans show: --cursor is an item number');
    }
    return { command: 'plans-show', id: id(), cursor, limit, json: values.json };
  }
  if (sub === 'approve') {
    only(['digest', 'by']);
    const digest = values.digest;
    if (digest === undefined || !DIGEST.test(digest)) {
      throw new UsageError(
        'plans approve: --digest is required: the SHA-256 `plans show` printed (64 hex)',
      );
    }
    return { command: 'plans-approve', id: id(), digest, by: values.by, json: values.json };
  }
  throw new UsageError(`plans: unknown subcommand "${sub ?? ''}" (list, show or approve)`);
}
