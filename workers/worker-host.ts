import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { QueueName } from '../src/config.js';
import type { Logger } from '../src/log.js';
import type { Metrics } from '../src/metrics.js';
import type { JobRegistry } from '../jobs/job-registry.js';
import { QUEUE_DEFAULTS } from '../queues/queue-defaults.js';
import { deadLetterOf, isFinalFailure } from '../queues/dead-letter-of-job.js';
import type { DeadLetterStore } from '../src/stores/postgres/dead-letter-store.js';
import { FairClock } from './fair-clock.js';
import { SINK_THROTTLE_LIMITER, type SinkThrottle } from './sink-throttle.js';
import { cancelChannel, cancelMarkKey, parseCancelNotice } from '../queues/cancel-notice.js';
import { createJobRunner, type CancelLookup, type HandlerTable } from './job-runner.js';

/** Cancel notices kept for jobs this host was not (yet) running: enough for any burst of cancels. */
const MAX_HEARD_CANCELS = 10_000;
/** How long a heard cancel is kept for a job that had not started when it came. */
const HEARD_CANCEL_TTL_MS = 10 * 60_000;

/** What a worker process serves and how. */
export interface WorkerHostOptions {
  /** Builds a connection per BullMQ Worker (each needs its own blocking connection). */
  connect: (name: string) => Redis;
  prefix: string;
  queues: readonly QueueName[];
  concurrency?: Partial<Record<QueueName, number>>;
  /** Overrides each queue's lock duration (ms). */
  lockDuration?: number | undefined;
  registry: JobRegistry;
  handlers: HandlerTable;
  log: Logger;
  /** Where job outcomes, durations and handler counters go. */
  metrics: Metrics;
  /**
   * Where jobs that failed for good are copied (PostgreSQL `dead_letters`); without it none
   * is (the deadletters.sweep job still finds them in their queues).
   */
  deadLetters?: Pick<DeadLetterStore, 'record'> | undefined;
  /** FAIR_QUEUES: the served ones among them move their fair clock as jobs start. */
  fairQueues?: readonly QueueName[];
  /** Backpressure from saturated sinks (workers/sink-throttle.ts); none: plain retries. */
  throttle?: SinkThrottle;
  /** JOB_ABORT_GRACE_MS: how long an aborted handler may take to wind down. */
  abortGraceMs?: number | undefined;
}

/** BullMQ Workers for a set of queues, with a graceful stop. */
export class WorkerHost {
  readonly workers: Worker[];
  private readonly abort = new AbortController();
  private readonly connections: Redis[] = [];
  private readonly clocks: FairClock[] = [];
  /** Cancel notices for jobs not running here when they came, by `<queue>:<id>`. */
  private readonly heardCancels = new Map<string, { reason: string; at: number }>();
  private readonly cancelSubscriber: Redis;
  private subscribed: Promise<unknown> | undefined;

  constructor(private readonly options: WorkerHostOptions) {
    this.workers = options.queues.map((queue) => {
      const connection = options.connect(`worker:${queue}`);
      this.connections.push(connection);
      const cancels: CancelLookup = {
        heard: (id) => {
          const heard = this.heardCancels.get(`${queue}:${id}`);
          return heard && Date.now() - heard.at <= HEARD_CANCEL_TTL_MS ? heard.reason : undefined;
        },
        stored: async (id) =>
          (await connection.get(cancelMarkKey(options.prefix, queue, id))) ?? undefined,
        forget: (id) => {
          this.heardCancels.delete(`${queue}:${id}`);
          // A retried job runs again: its cancel was spent.
          connection.del(cancelMarkKey(options.prefix, queue, id)).catch(() => undefined);
        },
      };
      const defaults = QUEUE_DEFAULTS[queue];
      const lockDuration = options.lockDuration ?? defaults.lockDuration;
      const worker = new Worker(
        queue,
        createJobRunner({
          queue,
          registry: options.registry,
          handlers: options.handlers,
          log: options.log,
          metrics: options.metrics,
          shutdownSignal: this.abort.signal,
          throttle: options.throttle,
          abortGraceMs: options.abortGraceMs,
          cancels,
        }),
        {
          connection,
          prefix: options.prefix,
          concurrency: options.concurrency?.[queue] ?? defaults.concurrency,
          lockDuration,
          // Look for jobs of crashed workers as often as a lock can expire (BullMQ's default
          // is every 30 s whatever the lock), so they run again within about one lock period.
          stalledInterval: Math.min(30_000, lockDuration),
          maxStalledCount: 3,
          autorun: false,
          ...(options.throttle ? { limiter: SINK_THROTTLE_LIMITER } : {}),
        },
      );
      worker.on('error', (err) => options.log.warn({ queue, err }, 'worker connection error'));
      const deadLetters = options.deadLetters;
      if (deadLetters) {
        worker.on('failed', (job, err) => {
          if (!job || !isFinalFailure(job, err)) return;
          // Not awaited by BullMQ: a failure to write (PostgreSQL away) is left to the sweep,
          // which copies every failed job not yet in the store.
          deadLetters.record([deadLetterOf(queue, job, err)]).catch((error: unknown) => {
            options.log.warn({ queue, jobId: job.id, err: error }, 'dead letter not recorded');
          });
        });
      }
      if (options.fairQueues?.includes(queue)) {
        // The Worker's own non-blocking connection (it blocks on a duplicate of it).
        const clock = new FairClock(connection, options.prefix, queue, (err) =>
          options.log.warn({ queue, err }, 'fair clock not moved'),
        );
        this.clocks.push(clock);
        worker.on('active', (job) => clock.observe(job.priority));
      }
      return worker;
    });
    this.cancelSubscriber = options.connect('worker:cancels');
    this.connections.push(this.cancelSubscriber);
    this.cancelSubscriber.on('message', (_channel: string, message: string) =>
      this.onCancelNotice(message),
    );
  }

  /**
   * Aborts the job a cancel names if one of this host's workers runs it (BullMQ's
   * Worker.cancelJob aborts its processor's signal); else keeps the notice a while, for an
   * attempt about to begin.
   */
  private onCancelNotice(message: string): void {
    const notice = parseCancelNotice(message);
    if (!notice) return;
    const index = this.options.queues.indexOf(notice.queue as QueueName);
    const worker = index < 0 ? undefined : this.workers[index];
    if (!worker) return;
    if (worker.cancelJob(notice.id, notice.reason)) {
      this.options.log.info({ queue: notice.queue, jobId: notice.id }, 'cancelling an active job');
      return;
    }
    const now = Date.now();
    if (this.heardCancels.size >= MAX_HEARD_CANCELS) {
      for (const [key, heard] of this.heardCancels) {
        if (now - heard.at > HEARD_CANCEL_TTL_MS || this.heardCancels.size >= MAX_HEARD_CANCELS)
          this.heardCancels.delete(key);
        else break;
      }
    }
    this.heardCancels.set(`${notice.queue}:${notice.id}`, { reason: notice.reason, at: now });
  }

  /** Starts taking jobs. */
  start(): void {
    this.subscribeToCancels().catch((err: unknown) =>
      this.options.log.warn({ err }, 'cancel notices not heard: subscribing failed'),
    );
    for (const worker of this.workers) {
      void worker.run().catch((err: unknown) => this.options.log.error({ err }, 'worker stopped'));
    }
    this.options.log.info(
      { queues: this.options.queues, types: this.options.registry.names() },
      'worker started',
    );
  }

  /** Resolves once every worker is connected and waiting for jobs, and cancels are heard. */
  async ready(): Promise<void> {
    await Promise.all([...this.workers.map((w) => w.waitUntilReady()), this.subscribeToCancels()]);
  }

  /** Subscribes to the prefix's cancel channel, once (ioredis subscribes again after a reconnect). */
  private subscribeToCancels(): Promise<unknown> {
    return (this.subscribed ??= this.cancelSubscriber.subscribe(
      cancelChannel(this.options.prefix),
    ));
  }

  /**
   * Stops taking jobs and waits up to graceMs for in-flight ones; past that, aborts their
   * signal and closes anyway (BullMQ's stalled check gives those jobs to another worker).
   */
  async stop(graceMs: number): Promise<void> {
    const log = this.options.log;
    log.info({ graceMs }, 'worker stopping: no new jobs, waiting for in-flight ones');
    const graceful = Promise.all(this.workers.map((w) => w.close()));
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((resolve) => {
      timer = setTimeout(() => resolve('expired'), graceMs);
    });
    const outcome = await Promise.race([graceful.then(() => 'done' as const), expired]);
    clearTimeout(timer);
    if (outcome === 'expired') {
      log.warn('grace period over: aborting in-flight jobs');
      this.abort.abort(new Error('worker shutting down'));
      await Promise.all(this.workers.map((w) => w.close(true)));
    }
    for (const clock of this.clocks) clock.close();
    await Promise.all(this.connections.map((c) => c.quit().catch(() => c.disconnect())));
    log.info('worker stopped');
  }
}
