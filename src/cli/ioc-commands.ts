import { NotFoundError } from '../errors/index.js';
import { deleteIoc } from '../../queues/use-cases/delete-ioc.js';
import { exportMisp } from '../../queues/use-cases/export-misp.js';
import { exportStix } from '../../queues/use-cases/export-stix.js';
import { iocStats } from '../../queues/use-cases/ioc-stats.js';
import { lookupIoc } from '../../queues/use-cases/lookup-ioc.js';
import { searchIocs } from '../../queues/use-cases/search-iocs.js';
import { IOC_FLAGS, type IocCommand } from './ioc-args.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { writeJson, type OperatorContext } from './operator-context.js';
import { osUser } from './os-user.js';
import { asUsage } from './record-flags.js';
import { writeChunks } from './stdout-stream.js';
import { terminalSafeJson } from './terminal-text.js';

/**
 * `stowage iocs search|stats|get|delete|export-stix|export-misp`: the hot store (and the cache for
 * get and delete) through the api's use cases, printed as the api answers (JSON).
 */
export async function iocCommand(ctx: OperatorContext, cmd: IocCommand): Promise<ExitCode> {
  const { deps } = ctx;
  await deps.checkSchema(); // no DDL from an operator command: `stowage init` owns the schema
  try {
    switch (cmd.command) {
      case 'iocs-search':
        writeJson(
          ctx.io,
          await asUsage('iocs search', IOC_FLAGS.search, () =>
            searchIocs(cmd.query, { search: deps.iocSearch }),
          ),
        );
        return EXIT.ok;
      case 'iocs-stats':
        writeJson(ctx.io, await iocStats({ search: deps.iocSearch }));
        return EXIT.ok;
      case 'iocs-get':
        writeJson(
          ctx.io,
          await lookupIoc(
            cmd,
            {
              cache: deps.iocCache,
              hotStore: deps.hotStore,
              metrics: deps.metrics.cache,
              archive: deps.archivedIocs,
            },
            { useCache: cmd.useCache },
          ),
        );
        return EXIT.ok;
      case 'iocs-delete':
        writeJson(
          ctx.io,
          await deleteIoc(cmd, {
            search: deps.iocSearch,
            hotStore: deps.hotStore,
            cache: deps.iocCache,
            hotRule: deps.settings.cache.hotRule,
            log: deps.log,
            caller: `cli:${osUser()}`,
          }),
        );
        return EXIT.ok;
      case 'iocs-export-stix':
      case 'iocs-export-misp': {
        const stix = cmd.command === 'iocs-export-stix';
        const sub = stix ? 'export-stix' : 'export-misp';
        // The first page is read here: a bad cursor is exit 2 before any byte is written.
        const chunks = await asUsage(`iocs ${sub}`, IOC_FLAGS[sub], () =>
          (stix ? exportStix : exportMisp)(cmd.query, { search: deps.iocSearch }),
        );
        await writeChunks(ctx.io.stdout, safe(chunks));
        ctx.io.stdout.write('\n');
        return EXIT.ok;
      }
    }
  } catch (err) {
    if (err instanceof NotFoundError) {
      ctx.io.stderr.write(`${err.message}\n`);
      return EXIT.failure;
    }
    throw err;
  }
}

/** The bundle's text with C1 controls escaped too: the same JSON, inert on a terminal. */
async function* safe(chunks: AsyncIterable<string>): AsyncGenerator<string> {
  for await (const chunk of chunks) yield terminalSafeJson(chunk);
}
