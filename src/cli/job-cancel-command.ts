import { parseArgs } from 'node:util';
import { QUEUE_NAMES, type QueueName } from '../config.js';
import { ConflictError, NotFoundError } from '../errors/index.js';
import { cancelJob, type CancelledJob } from '../../queues/use-cases/cancel-job.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { writeJson, type OperatorContext } from './operator-context.js';
import { osUser } from './os-user.js';
import { UsageError } from './usage-error.js';

/** The arguments of `stowage jobs cancel`. */
export interface JobCancelArgs {
  jobId: string;
  queue?: QueueName | undefined;
  json: boolean;
}

/** Parses `jobs cancel <job-id> [--queue q] [--json]`; throws UsageError naming what is wrong. */
export function parseJobCancelArgs(args: string[]): JobCancelArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: { json: { type: 'boolean', default: false }, queue: { type: 'string' } },
    });
  } catch (err) {
    throw new UsageError(`jobs cancel: ${err instanceof Error ? err.message : String(err)}`);
  }
  const [jobId, ...extra] = parsed.positionals;
  if (jobId === undefined) throw new UsageError('jobs cancel: missing <job-id>');
  if (extra.length > 0) throw new UsageError(`jobs cancel: unexpected "${extra[0]}"`);
  const queue = parsed.values.queue;
  if (queue !== undefined && !(QUEUE_NAMES as readonly string[]).includes(queue)) {
    throw new UsageError(`jobs cancel: --queue must be one of ${QUEUE_NAMES.join(', ')}`);
  }
  return { jobId, queue: queue as QueueName | undefined, json: parsed.values.json };
}

/**
 * `stowage jobs cancel <job-id>`: removes a job that has not started, or has its worker abort
 * a running one (it then reads `cancelled`). An operator may cancel any job. Exit 1 when no
 * queue has it or it already finished.
 */
export async function jobCancelCommand(
  ctx: OperatorContext,
  args: JobCancelArgs,
): Promise<ExitCode> {
  let view: CancelledJob;
  try {
    view = await cancelJob(
      { registry: ctx.registry, queues: ctx.queues, redis: ctx.deps.redis },
      { id: args.jobId, queue: args.queue, by: `cli:${osUser()}` },
    );
  } catch (err) {
    if (err instanceof NotFoundError) {
      ctx.io.stderr.write(
        `no job "${args.jobId}"${args.queue ? ` on queue ${args.queue}` : ' on any queue'}\n`,
      );
      return EXIT.failure;
    }
    if (err instanceof ConflictError) {
      ctx.io.stderr.write(`${err.message}\n`);
      return EXIT.failure;
    }
    throw err;
  }
  if (args.json) writeJson(ctx.io, view);
  else {
    const said = {
      removed: 'removed (it had not started)',
      cancelling: 'cancelling: its worker aborts it at its next await',
      cancelled: 'already cancelled',
    }[view.state];
    ctx.io.stdout.write(`${view.id} on ${view.queue}: ${said}\n`);
  }
  return EXIT.ok;
}
