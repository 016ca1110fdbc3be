import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ValidationError } from '../errors/index.js';
import {
  deadLetterListQuerySchema,
  deadLetterPurgeBodySchema,
  getDeadLetter,
  listDeadLetters,
  purgeDeadLetters,
  retryDeadLetter,
} from '../../queues/use-cases/dead-letters.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { writeJson, type OperatorContext } from './operator-context.js';
import { formatTable } from './table.js';
import { UsageError } from './usage-error.js';

/** A `stowage dead-letters …` command, parsed. */
export type DeadLetterCommand =
  | { command: 'list'; query: Record<string, string>; json: boolean }
  | { command: 'show' | 'retry'; id: string; json: boolean }
  | { command: 'purge'; filter: Record<string, string | boolean>; json: boolean };

const FILTERS = {
  queue: { type: 'string' },
  type: { type: 'string' },
  tenant: { type: 'string' },
  since: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const satisfies Options;

type Options = NonNullable<ParseArgsConfig['options']>;

function parse<O extends Options>(sub: string, args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(
      `dead-letters ${sub}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

/** Parses `stowage dead-letters list|show|retry|purge …`; a usage error names what is wrong. */
export function parseDeadLetterArgs(args: string[]): DeadLetterCommand {
  const [sub, ...rest] = args;
  if (sub === 'list') {
    const { values, positionals } = parse('list', rest, {
      ...FILTERS,
      cursor: { type: 'string' },
      limit: { type: 'string' },
    });
    if (positionals.length > 0)
      throw new UsageError(`dead-letters list: unexpected "${positionals[0]}"`);
    const { json, ...query } = values;
    return { command: 'list', query, json: json === true };
  }
  if (sub === 'show' || sub === 'retry') {
    const { values, positionals } = parse(sub, rest, { json: FILTERS.json });
    if (positionals.length !== 1) throw new UsageError(`dead-letters ${sub}: one <id> expected`);
    return { command: sub, id: positionals[0]!, json: values.json === true };
  }
  if (sub === 'purge') {
    const { values, positionals } = parse('purge', rest, {
      ...FILTERS,
      before: { type: 'string' },
      all: { type: 'boolean' },
    });
    if (positionals.length > 0)
      throw new UsageError(`dead-letters purge: unexpected "${positionals[0]}"`);
    const { json, ...filter } = values;
    return { command: 'purge', filter, json: json === true };
  }
  throw new UsageError(
    `dead-letters: ${sub === undefined ? 'missing' : `unknown subcommand "${sub}";`} list, show <id>, retry <id> or purge`,
  );
}

/** Runs a dead-letter command against PostgreSQL (and the queue Redis for a retry). */
export async function deadLetterCommand(
  ctx: OperatorContext,
  cmd: DeadLetterCommand,
): Promise<ExitCode> {
  const { io } = ctx;
  const deps = { deadLetters: ctx.deps.deadLetters };
  switch (cmd.command) {
    case 'list': {
      const query = deadLetterListQuerySchema.safeParse(cmd.query);
      if (!query.success) throw ValidationError.fromZod(query.error);
      const page = await listDeadLetters(query.data, deps);
      if (cmd.json) writeJson(io, page);
      else {
        const table = formatTable(
          ['ID', 'QUEUE', 'TYPE', 'JOB', 'CODE', 'ATTEMPTS', 'DEAD-LETTERED', 'RETRIED AS'],
          page.dead_letters.map((d) => [
            d.id,
            d.queue,
            d.type,
            d.job_id,
            d.failure_code,
            `${d.attempts_made}/${d.max_attempts}`,
            d.dead_lettered_at,
            d.retry_job_id ?? '',
          ]),
        );
        io.stdout.write(`${table}\n`);
        if (page.next_cursor !== null) io.stderr.write(`more: --cursor ${page.next_cursor}\n`);
      }
      return EXIT.ok;
    }
    case 'show':
      writeJson(io, await getDeadLetter({ id: cmd.id }, deps));
      return EXIT.ok;
    case 'retry': {
      await ctx.requireRedis();
      const retried = await retryDeadLetter(
        { id: cmd.id },
        { deadLetters: ctx.deps.deadLetters, queues: ctx.queues, registry: ctx.registry },
      );
      if (cmd.json) writeJson(io, retried);
      else {
        io.stdout.write(
          `${retried.retried ? 'retried as' : 'already retried as'} ${retried.job_id}\n`,
        );
      }
      return EXIT.ok;
    }
    case 'purge': {
      const filter = deadLetterPurgeBodySchema.safeParse(cmd.filter);
      if (!filter.success) throw ValidationError.fromZod(filter.error);
      const purged = await purgeDeadLetters(filter.data, deps);
      if (cmd.json) writeJson(io, purged);
      else io.stdout.write(`purged ${purged.purged} dead letter(s)\n`);
      return EXIT.ok;
    }
  }
}
