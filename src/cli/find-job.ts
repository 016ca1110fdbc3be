import type { Job, Queue } from 'bullmq';
import type { QueueName } from '../config.js';
import { typeOfJobId } from '../../jobs/job-id.js';
import type { OperatorContext } from './operator-context.js';

/** A job found by id, with the state read before it (so its fields are at least as new). */
export interface FoundJob {
  job: Job;
  queue: Queue;
  state: string;
}

/**
 * Finds a job by id: in the given queue, else in the queue its type (the id's prefix) uses,
 * else in every queue (an id chosen by hand has no type prefix).
 */
export async function findJob(
  ctx: OperatorContext,
  id: string,
  queueName?: QueueName,
): Promise<FoundJob | undefined> {
  const type = typeOfJobId(id);
  const byType = type === undefined ? undefined : ctx.registry.get(type)?.queue;
  const candidates: QueueName[] = queueName
    ? [queueName]
    : [
        ...new Set([
          ...(byType ? [byType] : []),
          ...ctx.queues.all().map((q) => q.name as QueueName),
        ]),
      ];
  for (const name of candidates) {
    const queue = ctx.queues.get(name);
    const state = await queue.getJobState(id);
    if (state === 'unknown') continue;
    const job = await queue.getJob(id);
    if (job) return { job, queue, state };
  }
  return undefined;
}
