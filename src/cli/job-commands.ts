import type { QueueName } from '../config.js';
import { ConflictError, NotFoundError } from '../errors/index.js';
import { findAndDescribeJob, type JobDescription } from '../../queues/use-cases/find-job.js';
import { retryFailedJobs, retryJob } from '../../queues/use-cases/retry-jobs.js';
import type { JobSearchQuery } from '../domain/api/job-search.js';
import { dashboardLinkOf } from '../../queues/dashboard-link.js';
import { listJobs } from '../../queues/use-cases/list-jobs.js';
import { removeJob, type RemovedJob } from '../../queues/use-cases/remove-job.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import type { OperatorContext } from './operator-context.js';
import { writeJson } from './operator-context.js';
import { ProgressReporter } from './progress.js';
import { cell, formatFields, formatTable } from './table.js';

/** From this many failed jobs on, `retry --all` shows its progress. */
export const RETRY_PROGRESS_MIN_JOBS = 20;

/** `stowage enqueue <type> --payload JSON`: validated by the job's definition, then enqueued. */
export async function enqueueCommand(
  ctx: OperatorContext,
  args: { type: string; payload: unknown; idempotencyKey?: string | undefined; json: boolean },
): Promise<ExitCode> {
  // A ValidationError (unknown type, a failing payload field) reaches the caller: exit 2.
  const job = await ctx.producer.enqueueByName(
    args.type,
    args.payload,
    args.idempotencyKey === undefined ? {} : { idempotencyKey: args.idempotencyKey },
  );
  const view = { id: job.id, type: job.name, queue: job.queue };
  if (args.json) writeJson(ctx.io, view);
  else
    ctx.io.stdout.write(
      `${formatTable(['ID', 'TYPE', 'QUEUE'], [[view.id, view.type, view.queue]])}\n`,
    );
  return EXIT.ok;
}

/** `stowage status <job-id>`: state, attempts, progress, failure reason and return value. */
export async function statusCommand(
  ctx: OperatorContext,
  args: { jobId: string; queue?: QueueName | undefined; json: boolean },
): Promise<ExitCode> {
  let view: JobDescription;
  try {
    view = await findAndDescribeJob(ctx, { id: args.jobId, queue: args.queue });
  } catch (err) {
    return refusedBy(ctx, err, args);
  }
  if (args.json) {
    writeJson(ctx.io, view);
    return EXIT.ok;
  }
  const fields: [string, string][] = [
    ['id', cell(view.id)],
    ['type', view.type],
    ['queue', view.queue],
    ['state', view.state],
    ['attempts', `${view.attempts_made}/${view.max_attempts}`],
    ['progress', cell(view.progress)],
    ['failed reason', cell(view.failed_reason)],
    ['return value', cell(view.return_value)],
    ['created', view.created_at],
    ['processed', cell(view.processed_at)],
    ['finished', cell(view.finished_at)],
  ];
  if (view.children) fields.push(['children', cell(view.children)]);
  ctx.io.stdout.write(`${formatFields(fields)}\n`);
  return EXIT.ok;
}

/** `stowage retry <job-id>`: moves one failed job back to waiting. */
export async function retryCommand(
  ctx: OperatorContext,
  args: { jobId: string; queue?: QueueName | undefined; resetAttempts: boolean; json: boolean },
): Promise<ExitCode> {
  let view: Awaited<ReturnType<typeof retryJob>>;
  try {
    view = await retryJob(ctx, {
      id: args.jobId,
      queue: args.queue,
      resetAttempts: args.resetAttempts,
    });
  } catch (err) {
    return refusedBy(ctx, err, args);
  }
  if (args.json) writeJson(ctx.io, view);
  else ctx.io.stdout.write(`retried ${args.jobId} on ${view.queue}\n`);
  return EXIT.ok;
}

/**
 * `stowage retry --all --queue q`: retries every job that had failed when the command
 * started, oldest first, in batches; a job failing again meanwhile is not retried twice.
 */
export async function retryAllCommand(
  ctx: OperatorContext,
  args: { queue: QueueName; resetAttempts: boolean; json: boolean },
): Promise<ExitCode> {
  let progress: ProgressReporter | undefined;
  const view = await retryFailedJobs(ctx, {
    queue: args.queue,
    resetAttempts: args.resetAttempts,
    onProgress: ({ retried, skipped, total }) => {
      if (retried + skipped === 0 && total >= RETRY_PROGRESS_MIN_JOBS)
        progress = new ProgressReporter(ctx.io.stderr, { label: `retry ${args.queue}` });
      progress?.update(
        retried + skipped === 0 ? 0 : total === 0 ? 100 : (100 * (retried + skipped)) / total,
        `${retried}/${total}`,
      );
    },
  });
  progress?.done();
  const { retried, skipped } = view;
  if (args.json) writeJson(ctx.io, view);
  else {
    ctx.io.stdout.write(
      `retried ${retried} failed job${retried === 1 ? '' : 's'} on ${args.queue}${skipped ? ` (${skipped} could not be retried)` : ''}\n`,
    );
  }
  return skipped > 0 && retried === 0 ? EXIT.failure : EXIT.ok;
}

/** A job that is not there, or not failed: said on stderr, exit 1; anything else is thrown. */
function refusedBy(
  ctx: OperatorContext,
  err: unknown,
  args: { jobId: string; queue?: QueueName | undefined },
): ExitCode {
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

/** `stowage jobs list [--type --state --tenant --tag --since --limit --cursor --json]`. */
export async function jobsListCommand(
  ctx: OperatorContext,
  args: { query: JobSearchQuery; json: boolean },
): Promise<ExitCode> {
  const { query } = args;
  // The operator reads the queue Redis itself: every tenant's jobs, as an admin key does.
  const page = await listJobs(
    { queues: ctx.queues, search: ctx.producer.search, dashboardLink: dashboardLinkOf(ctx.config) },
    { ...query },
    { tenant: undefined, admin: true },
  );
  if (args.json) {
    writeJson(ctx.io, page);
    return EXIT.ok;
  }
  const rows = page.jobs.map((j) => [
    cell(j.id),
    j.type,
    j.queue,
    j.state,
    cell(j.tenant),
    j.created_at,
    j.tags.join(' '),
  ]);
  ctx.io.stdout.write(
    `${formatTable(['ID', 'TYPE', 'QUEUE', 'STATE', 'TENANT', 'CREATED', 'TAGS'], rows)}\n`,
  );
  if (page.next_cursor) ctx.io.stderr.write(`more: --cursor ${page.next_cursor}\n`);
  return EXIT.ok;
}

/** `stowage jobs show <id>`: the job as GET /v1/jobs/{id} answers it, with its dashboard link. */
export async function jobsShowCommand(
  ctx: OperatorContext,
  args: { jobId: string; json: boolean },
): Promise<ExitCode> {
  let view: JobDescription;
  try {
    view = await findAndDescribeJob(
      { ...ctx, dashboardLink: dashboardLinkOf(ctx.config) },
      { id: args.jobId },
    );
  } catch (err) {
    return refusedBy(ctx, err, args);
  }
  if (args.json) {
    writeJson(ctx.io, view);
    return EXIT.ok;
  }
  const fields: [string, string][] = [
    ['id', cell(view.id)],
    ['type', view.type],
    ['queue', view.queue],
    ['state', view.state],
    ['attempts', `${view.attempts_made}/${view.max_attempts}`],
    ['enqueued by', cell(view.enqueued_by)],
    ['tenant', cell(view.tenant)],
    ['tags', view.tags.join(' ')],
    ['created', view.created_at],
    ['finished', cell(view.finished_at)],
    ['failed reason', cell(view.failed_reason)],
    ['dashboard', cell(view.dashboard_url)],
  ];
  ctx.io.stdout.write(`${formatFields(fields)}\n`);
  return EXIT.ok;
}

/** `stowage jobs remove <id>`: removes a job that is not running; exit 1 if absent or running. */
export async function jobsRemoveCommand(
  ctx: OperatorContext,
  args: { jobId: string; json: boolean },
): Promise<ExitCode> {
  let removed: RemovedJob;
  try {
    removed = await removeJob({ ...ctx, search: ctx.producer.search }, { id: args.jobId });
  } catch (err) {
    return refusedBy(ctx, err, args);
  }
  if (args.json) writeJson(ctx.io, removed);
  else ctx.io.stdout.write(`removed ${removed.id} (${removed.state}) from ${removed.queue}\n`);
  return EXIT.ok;
}
