import type { Job } from 'bullmq';
import type { QueueName } from '../../src/config.js';
import { ConflictError } from '../../src/errors/index.js';
import type { QueueSet } from '../queue-set.js';
import { findJob, type FindJobDeps } from './find-job.js';

/** Jobs retryFailedJobs reads and retries per round trip. */
const RETRY_BATCH = 100;

function retryOptions(resetAttempts: boolean) {
  return resetAttempts ? { resetAttemptsMade: true, resetAttemptsStarted: true } : {};
}

/**
 * Moves one failed job back to waiting. NotFoundError when no queue has it, ConflictError
 * when it is not failed.
 */
export async function retryJob(
  deps: FindJobDeps,
  input: { id: string; queue?: QueueName | undefined; resetAttempts: boolean },
): Promise<{ id: string; queue: QueueName; retried: 1 }> {
  const found = await findJob(deps, input.id, input.queue);
  if (found.state !== 'failed') {
    throw new ConflictError(`job ${input.id} is ${found.state}; only a failed job can be retried`, {
      id: input.id,
      state: found.state,
    });
  }
  await found.job.retry('failed', retryOptions(input.resetAttempts));
  return { id: input.id, queue: found.queue, retried: 1 };
}

/**
 * Retries every job of a queue that had failed when the call started, oldest first, in
 * batches; a job failing again meanwhile is not retried twice. `onProgress` hears the total
 * first, then after each batch.
 */
export async function retryFailedJobs(
  deps: { queues: QueueSet },
  input: {
    queue: QueueName;
    resetAttempts: boolean;
    onProgress?: (done: { retried: number; skipped: number; total: number }) => void;
  },
): Promise<{ queue: QueueName; retried: number; skipped: number }> {
  const queue = deps.queues.get(input.queue);
  const startedAt = Date.now();
  const total = await queue.getFailedCount();
  let retried = 0;
  let skipped = 0;
  input.onProgress?.({ retried, skipped, total });
  for (;;) {
    const batch = (await queue.getJobs(['failed'], 0, RETRY_BATCH - 1, true)).filter(
      (job): job is Job => job !== undefined && (job.finishedOn ?? 0) <= startedAt,
    );
    if (batch.length === 0) break;
    const results = await Promise.allSettled(
      batch.map((job) => job.retry('failed', retryOptions(input.resetAttempts))),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    retried += ok;
    // Another operator or a removal got there first; counted, not fatal.
    skipped += results.length - ok;
    input.onProgress?.({ retried, skipped, total });
    // Nothing could be retried: stop rather than read the same jobs again.
    if (ok === 0) break;
  }
  return { queue: input.queue, retried, skipped };
}
