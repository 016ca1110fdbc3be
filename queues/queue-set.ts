import { Queue, type DefaultJobOptions, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { QUEUE_NAMES, type QueueName } from '../src/config.js';
import { QUEUE_DEFAULTS } from './queue-defaults.js';

/** What a process may change of the queues' defaults (from JOBS_KEEP_COMPLETED). */
export interface QueueSetOptions {
  /** Completed jobs kept per queue (each at most a day), instead of the default 10,000. */
  keepCompleted?: Partial<Record<QueueName, number>>;
}

/** One BullMQ Queue per Stowage queue, sharing one connection. */
export class QueueSet {
  private readonly queues = new Map<QueueName, Queue>();

  constructor(
    private readonly connection: Redis,
    readonly prefix: string,
    names: readonly QueueName[] = QUEUE_NAMES,
    private readonly options: QueueSetOptions = {},
  ) {
    for (const name of names) {
      const queue = new Queue(name, {
        connection,
        prefix,
        defaultJobOptions: this.jobDefaults(name),
      });
      // The shared connection's owner logs its errors (throttled); without a listener BullMQ
      // would print every reconnect failure again, once per queue, as a raw stack.
      queue.on('error', () => undefined);
      this.queues.set(name, queue);
    }
  }

  /**
   * A queue's job options: its defaults, with the retention of completed jobs this process
   * was configured with. BullMQ trims a queue's completed set as a whole, by the options of
   * the job that just completed, so retention is per queue, never per job type.
   */
  jobDefaults(name: QueueName): DefaultJobOptions {
    const defaults = QUEUE_DEFAULTS[name].job;
    const count = this.options.keepCompleted?.[name];
    if (count === undefined || typeof defaults.removeOnComplete !== 'object') return defaults;
    return { ...defaults, removeOnComplete: { ...defaults.removeOnComplete, count } };
  }

  /** The queue of a name. */
  get(name: QueueName): Queue {
    const queue = this.queues.get(name);
    if (!queue) throw new Error(`queue "${name}" is not open in this process`);
    return queue;
  }

  /** Every open queue. */
  all(): Queue[] {
    return [...this.queues.values()];
  }

  /**
   * The job with this id on the first of `names` that has it, with its state read before the
   * job (so the job's fields are at least as new as the state), or undefined.
   */
  async findJob(
    id: string,
    names: readonly QueueName[],
  ): Promise<{ job: Job; state: string; queue: QueueName } | undefined> {
    for (const name of names) {
      const queue = this.get(name);
      const state = await queue.getJobState(id);
      if (state === 'unknown') continue;
      const job = await queue.getJob(id);
      if (job) return { job, state, queue: name };
    }
    return undefined;
  }

  /** The names of the open queues. */
  names(): QueueName[] {
    return [...this.queues.keys()];
  }

  /**
   * Resolves once every queue's connection is up and its scripts are loaded. Until then
   * BullMQ holds each call (without a deadline), so a process serving requests awaits this
   * before it listens.
   */
  async ready(): Promise<void> {
    await Promise.all(this.all().map((q) => q.waitUntilReady()));
  }

  /** Closes the queues (the shared connection is closed by its owner). */
  async close(): Promise<void> {
    await Promise.all(this.all().map((q) => q.close()));
  }
}
