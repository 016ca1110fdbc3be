import type { Redis } from 'ioredis';
import type { QueueName } from '../../src/config.js';
import { ConflictError, ForbiddenError } from '../../src/errors/index.js';
import { isCancelledReason } from '../../jobs/job-abort.js';
import { metaOf, type JobMeta } from '../../jobs/job-meta.js';
import {
  CANCEL_MARK_TTL_MS,
  cancelChannel,
  cancelMarkKey,
  type CancelNotice,
} from '../cancel-notice.js';
import { findJob, type FindJobDeps } from './find-job.js';

/**
 * What a cancel did: `removed` (the job had not started: it is gone), `cancelling` (it is
 * running: its worker aborts it at its next await, and it ends `cancelled`), `cancelled`
 * (it already was).
 */
/** Where a cancel looks for the job, and the queue Redis it marks and announces it on. */
export interface CancelJobDeps extends FindJobDeps {
  redis: Pick<Redis, 'set' | 'publish'>;
}

export type CancelOutcome = 'removed' | 'cancelling' | 'cancelled';

/** The answer of a cancel. */
export interface CancelledJob {
  id: string;
  type: string;
  queue: QueueName;
  state: CancelOutcome;
}

/** States of a job that has not started: removing it is the whole cancel. */
const NOT_STARTED = new Set(['waiting', 'delayed', 'prioritized', 'waiting-children']);

/**
 * Cancels a job by id. A job that has not started is removed; a running one is marked
 * cancelled in Redis and every worker host is told (queues/cancel-notice.ts): the one
 * running it aborts its handler's signal, and the attempt fails for good with
 * `job_cancelled: <reason>`, which readers see as the state `cancelled`. Throws
 * NotFoundError when no queue has the job, ForbiddenError when `mayCancel` refuses, and
 * ConflictError when it already completed or failed.
 */
export async function cancelJob(
  deps: CancelJobDeps,
  input: {
    id: string;
    queue?: QueueName | undefined;
    /** Who cancels (an API key's name, `cli:<user>`): recorded in the failed reason. */
    by: string;
    /** Whether the caller may cancel a job of this metadata (the API: admin, or its enqueuer). */
    mayCancel?: (meta: JobMeta) => boolean;
  },
): Promise<CancelledJob> {
  const found = await findJob(deps, input.id, input.queue);
  const { job, queue } = found;
  const view = { id: input.id, type: job.name, queue };
  if (input.mayCancel && !input.mayCancel(metaOf(job.data))) {
    throw new ForbiddenError(
      `job ${input.id} was enqueued by another key; only it or an admin key may cancel it`,
    );
  }
  if (found.state === 'failed' && isCancelledReason(job.failedReason)) {
    return { ...view, state: 'cancelled' };
  }
  if (found.state === 'completed' || found.state === 'failed') {
    throw new ConflictError(
      `job ${input.id} is ${found.state}; only a job that is waiting, delayed or running can be cancelled`,
      { id: input.id, state: found.state },
    );
  }
  const reason = `cancelled by ${input.by}`;
  const { redis } = deps;
  // Marked first: an attempt that begins after this (the job was taken meanwhile, or is
  // given back after a crash) finds the mark and ends before its handler runs.
  await redis.set(
    cancelMarkKey(deps.queues.prefix, queue, input.id),
    reason,
    'PX',
    CANCEL_MARK_TTL_MS,
  );
  if (NOT_STARTED.has(found.state) && (await removed(job))) return { ...view, state: 'removed' };
  const notice: CancelNotice = { queue, id: input.id, reason };
  await redis.publish(cancelChannel(deps.queues.prefix), JSON.stringify(notice));
  return { ...view, state: 'cancelling' };
}

/** Removes a job that has not started; false when a worker took it meanwhile (it is locked). */
async function removed(job: { remove(): Promise<void> }): Promise<boolean> {
  try {
    await job.remove();
    return true;
  } catch (err) {
    if (err instanceof Error && /locked/i.test(err.message)) return false;
    throw err;
  }
}
