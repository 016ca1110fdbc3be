import { UnrecoverableError, type Job } from 'bullmq';
import type { QueueName } from '../src/config.js';
import { PermanentError, StowageError, ValidationError, isPermanent } from '../src/errors/index.js';
import type { Logger } from '../src/log.js';
import type { Metrics } from '../src/metrics.js';
import type { Handler, JobContext } from '../jobs/job-definition.js';
import type { JobRegistry } from '../jobs/job-registry.js';
import { CHECKPOINT_KEY } from '../jobs/checkpoint.js';

/** Handlers by job name, already built from their dependencies. */
export type HandlerTable = Record<string, Handler<never> | undefined>;

/**
 * Turns a registry and its handlers into a BullMQ processor: parses the payload against its
 * definition, hands the handler a context, and classifies what it throws — a PermanentError
 * fails the job at once, anything else is retried with backoff.
 */
export function createJobRunner(options: {
  queue: QueueName;
  registry: JobRegistry;
  handlers: HandlerTable;
  log: Logger;
  /** Counts each attempt's outcome and duration, and what handlers report through ctx.metrics. */
  metrics: Metrics;
  /** Aborted when the process gives up waiting for in-flight jobs. */
  shutdownSignal: AbortSignal;
}) {
  const { queue, registry, handlers, shutdownSignal, metrics } = options;

  return async function runJob(job: Job): Promise<unknown> {
    const attempt = job.attemptsMade + 1;
    const maxAttempts = job.opts.attempts ?? 1;
    // Every line about this job, the runtime's and the handler's, carries these four fields.
    const log = options.log.child({ queue, jobId: job.id, type: job.name, attempt });
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1_000;
    if (attempt > 1) metrics.jobRetry(queue, job.name);
    try {
      const definition = registry.get(job.name);
      const handler = handlers[job.name];
      if (!definition || !handler) {
        throw new PermanentError(
          'unknown_job_type',
          `no handler for job type "${job.name}" on queue ${queue}`,
        );
      }
      const { [CHECKPOINT_KEY]: checkpoint, ...raw } = (job.data ?? {}) as Record<string, unknown>;
      // A claim-checked type's stored form is a reference to records validated when staged.
      const parsed = (definition.stored ?? definition.payload).safeParse(raw);
      if (!parsed.success) throw ValidationError.fromZod(parsed.error, 'payload');

      const ctx: JobContext = {
        jobId: job.id ?? '',
        name: job.name,
        queue,
        attempt,
        maxAttempts,
        log,
        metrics: metrics.forJob(queue, job.name),
        signal: shutdownSignal,
        checkpoint,
        progress: async (value) => {
          await job.updateProgress(value);
          log.debug({ progress: value }, 'job progress');
        },
        saveCheckpoint: async (state) => {
          await job.updateData({ ...raw, [CHECKPOINT_KEY]: state });
        },
        childResults: () => job.getChildrenValues(),
      };
      log.debug({ maxAttempts }, 'job started');
      const result = await (handler as Handler<unknown>)(parsed.data as never, ctx);
      metrics.jobEnded(queue, job.name, 'completed', seconds());
      log.info({ ms: Math.round(seconds() * 1_000) }, 'job completed');
      return result;
    } catch (err) {
      const ms = Math.round(seconds() * 1_000);
      if (isPermanent(err)) {
        const e = err as StowageError;
        metrics.jobEnded(queue, job.name, 'failed', seconds());
        log.error({ ms, code: e.code, context: e.context }, `job failed permanently: ${e.message}`);
        // BullMQ stops retrying on UnrecoverableError; the code leads the message so the
        // dashboard and the status route show it.
        throw new UnrecoverableError(`${e.code}: ${e.message}`);
      }
      const code = err instanceof StowageError ? err.code : 'unexpected';
      // BullMQ retries while attempts remain (attemptsMade counts this one once it throws).
      const retrying = attempt < maxAttempts;
      metrics.jobEnded(queue, job.name, retrying ? 'retried' : 'failed', seconds());
      if (retrying) log.warn({ ms, code, err, maxAttempts }, 'job failed, will be retried');
      else log.error({ ms, code, err, maxAttempts }, 'job failed, no attempts left');
      throw err;
    }
  };
}
