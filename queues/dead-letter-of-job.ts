import { isCancelledReason } from '../jobs/job-abort.js';
import type { Job } from 'bullmq';
import { StowageError } from '../src/errors/index.js';
import type { DeadLetterInput } from '../src/stores/postgres/dead-letter-store.js';
import { redactText } from '../jobs/redact.js';
import { META_KEY } from '../jobs/job-meta.js';

// The runner leads an UnrecoverableError's message with the code: `batch_not_staged: …`.
const CODE_PREFIX = /^([a-z][a-z0-9_]{1,63}): /;

/**
 * Whether this failure is the job's last: BullMQ has already counted the attempt when it
 * emits `failed`, so attempts are spent when attemptsMade reached attempts; an
 * UnrecoverableError (a PermanentError, as the runner throws it) ends the job at once.
 */
export function isFinalFailure(job: Job, err: Error | undefined): boolean {
  // A cancel is an operator's decision, not a failure to look into.
  if (isCancelledReason(job.failedReason) || isCancelledReason(err?.message)) return false;
  if (err?.name === 'UnrecoverableError') return true;
  return job.attemptsMade >= (job.opts.attempts ?? 1);
}

/**
 * A job that failed for good as a dead letter: its stored data as is (a claim-checked job's
 * batch reference, not the records), its `$meta`, the failure's code, redacted reason and
 * stack, attempts and times. `err` is the thrown error when the worker saw it; the sweep
 * has only what BullMQ stored.
 */
export function deadLetterOf(queue: string, job: Job, err?: Error): DeadLetterInput {
  const data = (job.data ?? null) as unknown;
  const meta =
    data !== null && typeof data === 'object' && Object.hasOwn(data, META_KEY)
      ? (data as Record<string, unknown>)[META_KEY]
      : null;
  const reason = job.failedReason || err?.message || 'unknown failure';
  const code =
    err instanceof StowageError ? err.code : (CODE_PREFIX.exec(reason)?.[1] ?? 'unexpected');
  const stack = (job.stacktrace ?? []).at(-1) ?? err?.stack ?? null;
  return {
    queue,
    jobId: job.id ?? '',
    type: job.name,
    data,
    meta: meta ?? null,
    failureCode: code,
    reason: redactText(reason),
    stack: stack === null ? null : redactText(stack),
    attemptsMade: job.attemptsMade,
    maxAttempts: job.opts.attempts ?? 1,
    enqueuedAt: new Date(job.timestamp),
    failedAt: new Date(job.finishedOn ?? Date.now()),
  };
}
