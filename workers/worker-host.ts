import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { QueueName } from '../src/config.js';
import type { Logger } from '../src/log.js';
import type { Metrics } from '../src/metrics.js';
import type { JobRegistry } from '../jobs/job-registry.js';
import { QUEUE_DEFAULTS } from '../queues/queue-defaults.js';
import { deadLetterOf, isFinalFailure } from '../queues/dead-letter-of-job.js';
import type { DeadLetterStore } from '../src/stores/postgres/dead-letter-store.js';
import { createJobRunner, type HandlerTable } from './job-runner.js';
import { FairClock } from './fair-clock.js';
import { SINK_THROTTLE_LIMITER, type SinkThrottle } from './sink-throttle.js';

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
}

/** BullMQ Workers for a set of queues, with a graceful stop. */
export class WorkerHost {
  readonly workers: Worker[];
  private readonly abort = new AbortController();
  private readonly connections: Redis[] = [];
  private readonly clocks: FairClock[] = [];

  constructor(private readonly options: WorkerHostOptions) {
    this.workers = options.queues.map((queue) => {
      const connection = options.connect(`worker:${queue}`);
      this.connections.push(connection);
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
  }

  /** Starts taking jobs. */
  start(): void {
    for (const worker of this.workers) {
      void worker.run().catch((err: unknown) => this.options.log.error({ err }, 'worker stopped'));
    }
    this.options.log.info(
      { queues: this.options.queues, types: this.options.registry.names() },
      'worker started',
    );
  }

  /** Resolves once every worker is connected and waiting for jobs. */
  async ready(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.waitUntilReady()));
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
