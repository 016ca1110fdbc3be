import { UnrecoverableError, type Job } from 'bullmq';
import type { QueueName } from '../src/config.js';
import { PermanentError, StowageError, ValidationError, isPermanent } from '../src/errors/index.js';
import type { Logger } from '../src/log.js';
import type { Handler, JobContext } from '../jobs/job-definition.js';
import type { JobRegistry } from '../jobs/job-registry.js';

/** The job data key under which resumable state rides along with the payload. */
export const CHECKPOINT_KEY = '$checkpoint';

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
  /** Aborted when the process gives up waiting for in-flight jobs. */
  shutdownSignal: AbortSignal;
}) {
  const { queue, registry, handlers, shutdownSignal } = options;

  return async function runJob(job: Job): Promise<unknown> {
    const attempt = job.attemptsMade + 1;
    const log = options.log.child({ queue, jobId: job.id, type: job.name, attempt });
    const started = performance.now();
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
      const parsed = definition.payload.safeParse(raw);
      if (!parsed.success) throw ValidationError.fromZod(parsed.error, 'payload');

      const ctx: JobContext = {
        jobId: job.id ?? '',
        name: job.name,
        queue,
        attempt,
        maxAttempts: job.opts.attempts ?? 1,
        log,
        signal: shutdownSignal,
        checkpoint,
        progress: (value) => job.updateProgress(value),
        saveCheckpoint: async (state) => {
          await job.updateData({ ...raw, [CHECKPOINT_KEY]: state });
        },
        childResults: () => job.getChildrenValues(),
      };
      log.debug('job started');
      const result = await (handler as Handler<unknown>)(parsed.data as never, ctx);
      log.info({ ms: Math.round(performance.now() - started) }, 'job completed');
      return result;
    } catch (err) {
      const ms = Math.round(performance.now() - started);
      if (isPermanent(err)) {
        const e = err as StowageError;
        log.error({ ms, code: e.code, context: e.context }, `job failed permanently: ${e.message}`);
        // BullMQ stops retrying on UnrecoverableError; the code leads the message so the
        // dashboard and the status route show it.
        throw new UnrecoverableError(`${e.code}: ${e.message}`);
      }
      const code = err instanceof StowageError ? err.code : 'unexpected';
      log.warn({ ms, code, err }, 'job failed, will retry if attempts remain');
      throw err;
    }
  };
}
