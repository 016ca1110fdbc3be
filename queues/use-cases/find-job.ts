import type { Job } from 'bullmq';
import type { QueueName } from '../../src/config.js';
import { NotFoundError } from '../../src/errors/index.js';
import { CHECKPOINT_KEY } from '../../jobs/checkpoint.js';
import { META_KEY, metaOf } from '../../jobs/job-meta.js';
import { readerState } from '../../jobs/job-abort.js';
import { typeOfJobId } from '../../jobs/job-id.js';
import type { JobRegistry } from '../../jobs/job-registry.js';
import { redactJobData, redactText } from '../../jobs/redact.js';
import type { QueueSet } from '../queue-set.js';

/** A job found by id, with the state read before it (so its fields are at least as new). */
export interface FoundJob {
  job: Job;
  queue: QueueName;
  state: string;
}

/** Where to look for a job: its registry and queues. */
export interface FindJobDeps {
  registry: JobRegistry;
  queues: QueueSet;
  /** The job's page on the dashboard (queues/dashboard-link.ts); without it, no dashboard_url. */
  dashboardLink?: ((queue: string, id: string) => string) | undefined;
}

/**
 * Finds a job by id: in the given queue, else in the queue its type (the id's prefix) uses,
 * else in every open queue (an id chosen by hand has no type prefix). Throws NotFoundError
 * naming `id` when no queue has it.
 */
export async function findJob(deps: FindJobDeps, id: string, queue?: QueueName): Promise<FoundJob> {
  const type = typeOfJobId(id);
  const byType = type === undefined ? undefined : deps.registry.get(type)?.queue;
  const candidates: QueueName[] = queue
    ? [queue]
    : [...new Set([...(byType ? [byType] : []), ...deps.queues.names()])];
  const found = await deps.queues.findJob(id, candidates);
  if (!found) {
    throw new NotFoundError(`no job "${id}"`, {
      errors: [{ path: 'id', message: 'no such job' }],
      ...(queue === undefined ? {} : { queue }),
    });
  }
  return found;
}

/** What the API's job status and the CLI's `status` say about a job. */
export type JobDescription = ReturnType<typeof jobView> & { dashboard_url?: string };

/**
 * A job as readers see it: state, attempts, progress, failure reason and return value, its
 * children when it has any, and its payload without checkpoint, spool names or secrets.
 */
export async function describeJob(job: Job, state: string) {
  return jobView(job, state, await job.getDependenciesCount());
}

/** A job as readers see it, from its state and its children's counts already read. */
export function jobView(job: Job, state: string, dependencies: Record<string, number>) {
  const childCount = Object.values(dependencies).reduce((sum: number, n) => sum + (n ?? 0), 0);
  const payload = { ...(job.data as Record<string, unknown>) };
  delete payload[CHECKPOINT_KEY];
  delete payload[META_KEY];
  const meta = metaOf(job.data);
  // Readers see no spool file name, URL query or secret-shaped field (jobs/redact.ts).
  return {
    id: job.id,
    type: job.name,
    queue: job.queueName,
    // A job cancelled while it ran is failed in BullMQ, `cancelled` to readers.
    state: readerState(state, job.failedReason),
    progress: job.progress,
    attempts_made: job.attemptsMade,
    max_attempts: job.opts.attempts ?? 1,
    return_value: redactJobData(job.returnvalue) ?? null,
    failed_reason: job.failedReason ? redactText(job.failedReason) : null,
    created_at: new Date(job.timestamp).toISOString(),
    processed_at: job.processedOn ? new Date(job.processedOn).toISOString() : null,
    finished_at: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
    ...(childCount > 0 ? { children: dependencies } : {}),
    enqueued_by: meta.enqueued_by ?? null,
    tenant: meta.tenant ?? null,
    tags: meta.tags ?? [],
    payload: redactJobData(payload),
  };
}

/** Finds a job and describes it: one behaviour for `GET /v1/jobs/{id}` and `stowage status`. */
export async function findAndDescribeJob(
  deps: FindJobDeps,
  input: { id: string; queue?: QueueName | undefined },
): Promise<JobDescription> {
  const found = await findJob(deps, input.id, input.queue);
  const view = await describeJob(found.job, found.state);
  return withDashboardUrl(deps, view);
}

/** A view with its dashboard_url when the deps know the dashboard (else as it is). */
export function withDashboardUrl<V extends { id: string | undefined; queue: string }>(
  deps: Pick<FindJobDeps, 'dashboardLink'>,
  view: V,
): V & { dashboard_url?: string } {
  if (!deps.dashboardLink) return view;
  return { ...view, dashboard_url: deps.dashboardLink(view.queue, view.id ?? '') };
}
