import { userInfo } from 'node:os';
import { toConfigEntryView, toConfigKeyView } from '../domain/api/config-entries.js';
import type { ConfigEntry } from '../domain/config-entry.js';
import { ConfigVersionConflictError } from '../errors/config-version-conflict-error.js';
import { NotFoundError } from '../errors/index.js';
import { getConfig } from '../../queues/use-cases/get-config.js';
import { listConfig } from '../../queues/use-cases/list-config.js';
import { setConfig } from '../../queues/use-cases/set-config.js';
import type { ConfigCommand } from './config-args.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import type { OperatorContext } from './operator-context.js';
import { writeJson } from './operator-context.js';
import { cell, formatFields, formatTable } from './table.js';

/** `stowage config get|set|list`: the configuration store, straight through PostgreSQL. */
export async function configCommand(ctx: OperatorContext, cmd: ConfigCommand): Promise<ExitCode> {
  const store = { config: ctx.deps.configStore };
  await ctx.deps.checkSchema(); // no DDL from an operator command: `stowage init` owns the schema
  if (cmd.command === 'config-list') {
    const page = await listConfig({ cursor: cmd.cursor, limit: cmd.limit }, store);
    const keys = page.keys.map(toConfigKeyView);
    if (cmd.json) writeJson(ctx.io, { keys, next_cursor: page.nextCursor ?? null });
    else if (keys.length === 0) ctx.io.stdout.write('no config key\n');
    else {
      ctx.io.stdout.write(
        `${formatTable(
          ['KEY', 'VERSION', 'UPDATED', 'BY'],
          keys.map((k) => [k.key, String(k.version), k.updated_at, k.updated_by]),
        )}\n`,
      );
      if (page.nextCursor !== undefined) {
        ctx.io.stderr.write(`more: --cursor ${page.nextCursor}\n`);
      }
    }
    return EXIT.ok;
  }
  try {
    if (cmd.command === 'config-get') {
      write(ctx, await getConfig({ key: cmd.key, version: cmd.version }, store), cmd.json);
      return EXIT.ok;
    }
    // Whoever can run the operator CLI against the database is an admin (as for rewinds).
    const written = await setConfig(
      {
        key: cmd.key,
        value: cmd.value,
        version: cmd.version,
        updatedBy: `cli:${cmd.by ?? osUser()}`,
      },
      store,
    );
    write(ctx, written.entry, cmd.json);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof NotFoundError || err instanceof ConfigVersionConflictError) {
      ctx.io.stderr.write(`${err.message}\n`);
      return EXIT.failure;
    }
    throw err;
  }
}

function write(ctx: OperatorContext, entry: ConfigEntry, json: boolean): void {
  const view = toConfigEntryView(entry);
  if (json) {
    writeJson(ctx.io, view);
    return;
  }
  ctx.io.stdout.write(
    `${formatFields([
      ['key', view.key],
      ['version', String(view.version)],
      ['updated', view.updated_at],
      ['by', view.updated_by],
      ['value', cell(JSON.stringify(view.value))],
    ])}\n`,
  );
}

/** The OS user running the CLI, for `updated_by` when --by is not given. */
function osUser(): string {
  try {
    return userInfo().username || 'unknown';
  } catch {
    return `uid:${process.getuid?.() ?? 'unknown'}`;
  }
}
