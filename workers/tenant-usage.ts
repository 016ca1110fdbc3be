import { UnrecoverableError, type Job, type Worker } from 'bullmq';
import type { Logger } from '../src/log.js';
import type { Metrics } from '../src/metrics.js';
import type { RedisUsageStore } from '../src/stores/redis/usage-store.js';
import { metaOf } from '../jobs/job-meta.js';

/** The rows a job's result says it wrote (the insert jobs' `written`), else 0. */
function rowsOf(result: unknown): number {
  const written = (result as { written?: unknown } | null | undefined)?.written;
  return typeof written === 'number' && Number.isFinite(written) ? written : 0;
}

/**
 * Accounts each job a worker ends to its tenant (`$meta.tenant`): completed, with the rows it
 * wrote, or failed for good (permanent, or no attempts left). Jobs without a tenant (the
 * scheduler's, the CLI's) are not accounted. Best effort: a failed write is logged.
 */
export function accountTenantUsage(
  worker: Worker,
  options: {
    usage: RedisUsageStore;
    metrics: Metrics;
    /** The metric label of a tenant (tenantLabeller: configured tenants or `other`). */
    label: (tenant: string | undefined) => string;
    log: Logger;
  },
): void {
  const account = (
    job: Job,
    amounts: { rows?: number; jobs_completed?: number; jobs_failed?: number },
  ) => {
    const tenant = metaOf(job.data).tenant;
    if (tenant === undefined) return;
    options.metrics.tenantUsage(options.label(tenant), amounts);
    options.usage.add(tenant, amounts).catch((err: unknown) => {
      options.log.warn({ err, tenant }, 'could not account a job to its tenant');
    });
  };
  worker.on('completed', (job, result) => {
    account(job, { jobs_completed: 1, rows: rowsOf(result) });
  });
  worker.on('failed', (job, err) => {
    if (!job) return;
    const final =
      err instanceof UnrecoverableError ||
      err.name === 'UnrecoverableError' ||
      job.attemptsMade >= (job.opts.attempts ?? 1);
    if (final) account(job, { jobs_failed: 1 });
  });
}
