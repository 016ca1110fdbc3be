import { UnrecoverableError, type Job } from 'bullmq';
import type { QueueName } from '../src/config.js';
import { PermanentError, StowageError, ValidationError, isPermanent } from '../src/errors/index.js';
import type { Logger } from '../src/log.js';
import type { JobMetrics, Metrics } from '../src/metrics.js';
import type { AnyJobDefinition, Handler, JobContext } from '../jobs/job-definition.js';
import type { JobRegistry } from '../jobs/job-registry.js';
import { CHECKPOINT_KEY } from '../jobs/checkpoint.js';
import { META_KEY, metaOf, type JobMeta } from '../jobs/job-meta.js';
import type { SinkThrottle } from './sink-throttle.js';
import { jobCancelledError, jobTimeoutError, timeoutOf } from '../jobs/job-abort.js';
import { AttemptAbort } from './attempt-abort.js';
import { redactText } from '../jobs/redact.js';

/** Handlers by job name, already built from their dependencies. */
export type HandlerTable = Record<string, Handler<never> | undefined>;

/** How long a handler has, once its signal aborted, to wind down before its attempt ends without it. */
export const DEFAULT_ABORT_GRACE_MS = 5_000;

/**
 * Lines a job's log (ctx.note) holds at most, over all its attempts: enough to follow a long
 * job step by step, while a handler noting in a loop cannot grow a job's Redis footprint.
 */
export const MAX_JOB_LOG_LINES = 200;
/** Characters a job log line keeps at most (a longer note is cut, saying so). */
export const MAX_JOB_LOG_LINE_CHARS = 2_000;

/** Where the runner learns that a job was cancelled before its attempt began (see worker-host). */
export interface CancelLookup {
  /** The reason of a cancel notice this process heard for the job, if any. */
  heard(jobId: string): string | undefined;
  /** The job's stored cancel mark: read only for an attempt given back after a crash. */
  stored(jobId: string): Promise<string | undefined>;
  /** The cancel ended the job: a later retry of it runs. */
  forget(jobId: string): void;
}

/** What the runner needs of one job type, looked up once per process rather than per job. */
interface JobTypeEntry {
  readonly definition: AnyJobDefinition;
  readonly handler: Handler<unknown>;
  readonly metrics: JobMetrics;
}

/**
 * The context of one attempt. A class rather than an object literal so a job allocates no
 * closures, and the child logger is built only when something logs through it: most jobs
 * never do, and building one (its bindings serialized and redacted) costs more than the
 * rest of the runtime (issue 14).
 */
class AttemptContext implements JobContext {
  private childLog: Logger | undefined;
  /** Lines the job's log holds as far as this attempt knows (Redis answers each write with it). */
  private logLines = 0;
  private noteFailed = false;

  constructor(
    private readonly job: Job,
    private readonly parentLog: Logger,
    readonly queue: QueueName,
    readonly attempt: number,
    readonly maxAttempts: number,
    readonly metrics: JobMetrics,
    readonly signal: AbortSignal,
    readonly checkpoint: unknown,
    /** The job data without the checkpoint, as saveCheckpoint writes it back. */
    private readonly raw: Record<string, unknown>,
  ) {}

  get meta(): JobMeta {
    return metaOf(this.job.data);
  }

  get jobId(): string {
    return this.job.id ?? '';
  }

  get name(): string {
    return this.job.name;
  }

  get log(): Logger {
    return (this.childLog ??= jobLogger(this.parentLog, this.job, this.queue, this.attempt));
  }

  async progress(value: number | Record<string, unknown>): Promise<void> {
    await this.job.updateProgress(value);
    // Through the parent when the child does not exist yet: no child built just to drop a line.
    if (this.childLog || this.parentLog.isLevelEnabled('debug')) {
      this.log.debug({ progress: value }, 'job progress');
    }
  }

  async saveCheckpoint(state: unknown): Promise<void> {
    await this.job.updateData({ ...this.raw, [CHECKPOINT_KEY]: state });
  }

  childResults(): Promise<Record<string, unknown>> {
    return this.job.getChildrenValues();
  }

  note(message: string): void {
    if (this.logLines >= MAX_JOB_LOG_LINES) return;
    // Counted before Redis answers, so a burst of notes stops at the cap too.
    const line = ++this.logLines;
    const text =
      line === MAX_JOB_LOG_LINES
        ? `${MAX_JOB_LOG_LINES} log lines: later ones are dropped`
        : cut(redactText(message));
    // Not awaited: a note costs the handler no round trip; the line goes out on the job's
    // connection ahead of the job's completion, so it is there when the job is done.
    Promise.resolve()
      .then(() => this.job.log(`${new Date().toISOString()} ${text}`))
      .then(
        (count) => {
          // A retry's log already holds its earlier attempts' lines.
          if (typeof count === 'number') this.logLines = Math.max(this.logLines, count);
        },
        (err: unknown) => {
          if (this.noteFailed) return;
          this.noteFailed = true;
          this.log.warn({ err }, 'job log line not written (the job goes on)');
        },
      );
  }

  /** The logger of this attempt if one was built, else undefined. */
  get builtLog(): Logger | undefined {
    return this.childLog;
  }
}

/** A note within MAX_JOB_LOG_LINE_CHARS (cut after redaction, so no half URL escapes it). */
function cut(text: string): string {
  return text.length <= MAX_JOB_LOG_LINE_CHARS
    ? text
    : `${text.slice(0, MAX_JOB_LOG_LINE_CHARS)}… (cut)`;
}

/** Every line about a job, the runtime's and the handler's, carries these four fields. */
function jobLogger(log: Logger, job: Job, queue: QueueName, attempt: number): Logger {
  return log.child({ queue, jobId: job.id, type: job.name, attempt });
}

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
  /** Slows the queue down when a sink says it is saturated (backpressure); none: plain retries. */
  throttle?: SinkThrottle | undefined;
  /** JOB_ABORT_GRACE_MS: see DEFAULT_ABORT_GRACE_MS. */
  abortGraceMs?: number | undefined;
  /** Cancels that came before an attempt began; without it only BullMQ's signal cancels. */
  cancels?: CancelLookup | undefined;
}) {
  const { queue, registry, handlers, shutdownSignal, metrics } = options;
  const graceMs = options.abortGraceMs ?? DEFAULT_ABORT_GRACE_MS;
  const types = new Map<string, JobTypeEntry | null>();

  /** The definition, handler and counters of a job type; null when it has no handler. */
  function typeOf(name: string): JobTypeEntry | null {
    let entry = types.get(name);
    if (entry === undefined) {
      const definition = registry.get(name);
      const handler = handlers[name] as Handler<unknown> | undefined;
      entry =
        definition && handler
          ? { definition, handler, metrics: metrics.forJob(queue, name) }
          : null;
      // Names come from Redis: remember only registered ones, so junk cannot grow the map.
      if (entry) types.set(name, entry);
    }
    return entry;
  }

  /**
   * The processor BullMQ calls; it declares the third parameter, so BullMQ hands it the
   * signal its `Worker.cancelJob` aborts.
   */
  return async function runJob(
    job: Job,
    _token?: string,
    cancelSignal?: AbortSignal,
  ): Promise<unknown> {
    const attempt = job.attemptsMade + 1;
    const maxAttempts = job.opts.attempts ?? 1;
    const started = performance.now();
    if (attempt > 1) metrics.jobRetry(queue, job.name);
    let ctx: AttemptContext | undefined;
    try {
      const type = typeOf(job.name);
      if (!type) {
        throw new PermanentError(
          'unknown_job_type',
          `no handler for job type "${job.name}" on queue ${queue}`,
        );
      }
      const data = (job.data ?? {}) as Record<string, unknown>;
      let raw = data;
      let checkpoint: unknown;
      // Copy the payload only when a checkpoint rides along (a retry of resumable work).
      if (Object.hasOwn(data, CHECKPOINT_KEY)) {
        ({ [CHECKPOINT_KEY]: checkpoint, ...raw } = data);
      }
      // Metadata is not part of the payload: parse without it (and keep it in raw, so a saved
      // checkpoint writes it back).
      let payload = raw;
      if (Object.hasOwn(raw, META_KEY)) {
        payload = { ...raw };
        delete payload[META_KEY];
      }
      // A claim-checked type's stored form is a reference to records validated when staged.
      const parsed = (type.definition.stored ?? type.definition.payload).safeParse(payload);
      if (!parsed.success) throw ValidationError.fromZod(parsed.error, 'payload');

      // A cancel heard before this attempt began (or stored, for a job given back after a
      // crash) ends it before the handler runs.
      const id = job.id ?? '';
      const restarted = (job.attemptsStarted ?? 0) > attempt;
      const cancelled =
        options.cancels?.heard(id) ?? (restarted ? await options.cancels?.stored(id) : undefined);
      if (cancelled !== undefined) throw jobCancelledError(cancelled);

      const timeout = timeoutOf(type.definition, metaOf(raw));
      const abort = new AttemptAbort(graceMs);
      abort.follow(shutdownSignal, (reason) => reason);
      abort.follow(cancelSignal, (reason) => jobCancelledError(reason));
      abort.deadline(timeout.ms, () => jobTimeoutError(job.name, timeout));
      ctx = new AttemptContext(
        job,
        options.log,
        queue,
        attempt,
        maxAttempts,
        type.metrics,
        abort.signal,
        checkpoint,
        raw,
      );
      if (options.log.isLevelEnabled('debug')) ctx.log.debug({ maxAttempts }, 'job started');
      const attemptLog = ctx;
      let result: unknown;
      try {
        result = await abort.run(type.handler(parsed.data as never, ctx), () =>
          attemptLog.log.warn(
            { graceMs, reason: String(abort.signal.reason) },
            'handler ignored its abort signal: the attempt ends without it',
          ),
        );
      } finally {
        abort.dispose();
      }
      const seconds = (performance.now() - started) / 1_000;
      metrics.jobEnded(queue, job.name, 'completed', seconds);
      const ms = Math.round(seconds * 1_000);
      const log = ctx.builtLog;
      // The same line either way: the parent given the four fields as the child would add them.
      if (log) log.info({ ms }, 'job completed');
      else options.log.info({ queue, jobId: job.id, type: job.name, attempt, ms }, 'job completed');
      return result;
    } catch (err) {
      const seconds = (performance.now() - started) / 1_000;
      const ms = Math.round(seconds * 1_000);
      const log = ctx?.log ?? jobLogger(options.log, job, queue, attempt);
      // A saturated sink: the queue slows down and the job waits, using no attempt.
      const throttled = await options.throttle?.slowDown(err, job, queue, log);
      if (throttled) throw throttled;
      if (isPermanent(err)) {
        const e = err as StowageError;
        if (e.code === 'job_cancelled') options.cancels?.forget(job.id ?? '');
        metrics.jobEnded(queue, job.name, 'failed', seconds);
        log.error({ ms, code: e.code, context: e.context }, `job failed permanently: ${e.message}`);
        // BullMQ stops retrying on UnrecoverableError; the code leads the message so the
        // dashboard and the status route show it.
        throw new UnrecoverableError(`${e.code}: ${e.message}`);
      }
      const code = err instanceof StowageError ? err.code : 'unexpected';
      // BullMQ retries while attempts remain (attemptsMade counts this one once it throws).
      const retrying = attempt < maxAttempts;
      metrics.jobEnded(queue, job.name, retrying ? 'retried' : 'failed', seconds);
      if (retrying) log.warn({ ms, code, err, maxAttempts }, 'job failed, will be retried');
      else log.error({ ms, code, err, maxAttempts }, 'job failed, no attempts left');
      // A timeout leads with its code, as a permanent failure does: `job_timeout: …`.
      if (err instanceof StowageError && err.code === 'job_timeout') {
        throw new Error(`${err.code}: ${err.message}`, { cause: err });
      }
      throw err;
    }
  };
}
