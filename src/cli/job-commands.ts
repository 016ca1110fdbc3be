import type { Job } from 'bullmq';
import type { QueueName } from '../config.js';
import { describeJob } from '../api/routes/jobs.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { findJob } from './find-job.js';
import type { OperatorContext } from './operator-context.js';
import { writeJson } from './operator-context.js';
import { ProgressReporter } from './progress.js';
import { cell, formatFields, formatTable } from './table.js';

/** From this many failed jobs on, `retry --all` shows its progress. */
export const RETRY_PROGRESS_MIN_JOBS = 20;

/** Jobs `retry --all` reads and retries per round trip. */
const RETRY_BATCH = 100;

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
  const found = await findJob(ctx, args.jobId, args.queue);
  if (!found) {
    ctx.io.stderr.write(
      `no job "${args.jobId}"${args.queue ? ` on queue ${args.queue}` : ' on any queue'}\n`,
    );
    return EXIT.failure;
  }
  const view = await describeJob(found.job, found.state);
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
  const found = await findJob(ctx, args.jobId, args.queue);
  if (!found) {
    ctx.io.stderr.write(
      `no job "${args.jobId}"${args.queue ? ` on queue ${args.queue}` : ' on any queue'}\n`,
    );
    return EXIT.failure;
  }
  if (found.state !== 'failed') {
    ctx.io.stderr.write(`job ${args.jobId} is ${found.state}; only a failed job can be retried\n`);
    return EXIT.failure;
  }
  await found.job.retry('failed', retryOptions(args.resetAttempts));
  const view = { id: args.jobId, queue: found.queue.name, retried: 1 };
  if (args.json) writeJson(ctx.io, view);
  else ctx.io.stdout.write(`retried ${args.jobId} on ${found.queue.name}\n`);
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
  const queue = ctx.queues.get(args.queue);
  const startedAt = Date.now();
  const total = await queue.getFailedCount();
  const progress =
    total >= RETRY_PROGRESS_MIN_JOBS
      ? new ProgressReporter(ctx.io.stderr, { label: `retry ${args.queue}` })
      : undefined;
  let retried = 0;
  let skipped = 0;
  progress?.update(0, `0/${total}`);
  for (;;) {
    const batch = (await queue.getJobs(['failed'], 0, RETRY_BATCH - 1, true)).filter(
      (job): job is Job => job !== undefined && (job.finishedOn ?? 0) <= startedAt,
    );
    if (batch.length === 0) break;
    const results = await Promise.allSettled(
      batch.map((job) => job.retry('failed', retryOptions(args.resetAttempts))),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    retried += ok;
    // Another operator or a removal got there first; counted, not fatal.
    skipped += results.length - ok;
    progress?.update(
      total === 0 ? 100 : (100 * (retried + skipped)) / total,
      `${retried}/${total}`,
    );
    // Nothing could be retried: stop rather than read the same jobs again.
    if (ok === 0) break;
  }
  progress?.done();
  const view = { queue: args.queue, retried, skipped };
  if (args.json) writeJson(ctx.io, view);
  else {
    ctx.io.stdout.write(
      `retried ${retried} failed job${retried === 1 ? '' : 's'} on ${args.queue}${skipped ? ` (${skipped} could not be retried)` : ''}\n`,
    );
  }
  return skipped > 0 && retried === 0 ? EXIT.failure : EXIT.ok;
}

function retryOptions(resetAttempts: boolean) {
  return resetAttempts ? { resetAttemptsMade: true, resetAttemptsStarted: true } : {};
}
