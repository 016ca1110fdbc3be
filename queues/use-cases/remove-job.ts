import type { QueueName } from '../../src/config.js';
import { ConflictError } from '../../src/errors/index.js';
import type { JobSearchIndex } from '../../src/stores/redis/job-search-index.js';
import { metaOf } from '../../jobs/job-meta.js';
import { findJob, type FindJobDeps } from './find-job.js';

/** What removing a job answers. */
export interface RemovedJob {
  id: string;
  queue: QueueName;
  /** The state it was removed from. */
  state: string;
}

/**
 * Removes a job that is not running (with its flow children) and its search entries. An
 * active job is a ConflictError: its worker holds it and would write on (cancel it instead);
 * a job nobody has is a NotFoundError.
 */
export async function removeJob(
  deps: FindJobDeps & { search: JobSearchIndex },
  input: { id: string; queue?: QueueName | undefined },
): Promise<RemovedJob> {
  const { job, state, queue } = await findJob(deps, input.id, input.queue);
  if (state === 'active') {
    throw new ConflictError(`job "${input.id}" is running; cancel it, or wait for it to end`, {
      state,
    });
  }
  try {
    await job.remove();
  } catch (err) {
    // BullMQ refuses a job a worker took meanwhile (it holds the lock).
    throw new ConflictError(`job "${input.id}" could not be removed: it is locked by a worker`, {
      cause: err instanceof Error ? err.message : String(err),
    });
  }
  const meta = metaOf(job.data);
  await deps.search.remove(
    [`${queue}:${input.id}`],
    deps.search.fieldsOf({
      queue,
      id: input.id,
      type: job.name,
      tenant: meta.tenant,
      tags: meta.tags,
    }),
  );
  return { id: input.id, queue, state };
}
