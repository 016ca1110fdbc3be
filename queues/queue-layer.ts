import type { Redis } from 'ioredis';
import { QUEUE_NAMES, type QueueName } from '../src/config.js';
import type { BatchStager } from '../src/domain/staged-batch.js';
import type { AnyJobDefinition } from '../jobs/job-definition.js';
import type { JobRegistry } from '../jobs/job-registry.js';
import { FairPriority } from './fair-priority.js';
import { Producer } from './producer.js';
import { QueueSet, type QueueSetOptions } from './queue-set.js';

/** The queue layer of a process that enqueues: its job types, every queue, a producer. */
export interface QueueLayer<Defs extends readonly AnyJobDefinition[]> {
  readonly registry: JobRegistry<Defs>;
  readonly queues: QueueSet;
  readonly producer: Producer<Defs>;
}

/** Where the queue layer lives and how it keeps completed jobs. */
export interface QueueLayerOptions<Defs extends readonly AnyJobDefinition[]> {
  registry: JobRegistry<Defs>;
  /** QUEUE_PREFIX. */
  prefix: string;
  keepCompleted?: QueueSetOptions['keepCompleted'];
  names?: readonly QueueName[];
  /** Where claim-checked records (iocs.insert) are staged; needed to enqueue such types. */
  batches?: BatchStager;
  /** Told when a batch went inline because the batch store was away (see Producer). */
  onInline?: (err: unknown, jobs: number) => void;
  /** FAIR_QUEUES: queues whose jobs get their tenant's fair priority (none when left out). */
  fairQueues?: readonly QueueName[];
}

/**
 * Opens the queues and a producer over one Redis connection (its owner closes it). Queue
 * objects connect on the connection's schedule; `ready()` waits for them.
 */
export function openQueueLayer<Defs extends readonly AnyJobDefinition[]>(
  redis: Redis,
  options: QueueLayerOptions<Defs>,
): QueueLayer<Defs> & { ready(): Promise<void>; close(): Promise<void> } {
  const queues = new QueueSet(redis, options.prefix, options.names ?? QUEUE_NAMES, {
    ...(options.keepCompleted ? { keepCompleted: options.keepCompleted } : {}),
  });
  const fair = options.fairQueues?.length
    ? new FairPriority(redis, options.prefix, options.fairQueues)
    : undefined;
  const producer = new Producer(
    options.registry,
    queues,
    redis,
    {
      ...(options.batches ? { batches: options.batches } : {}),
      ...(options.onInline ? { onInline: options.onInline } : {}),
    },
    fair,
  );
  return {
    registry: options.registry,
    queues,
    producer,
    async ready() {
      await Promise.all([queues.ready(), producer.ready()]);
    },
    async close() {
      await producer.close();
      await queues.close();
    },
  };
}
