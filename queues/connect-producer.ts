import { createPgPool } from '../src/connections/postgres.js';
import { createRedis } from '../src/connections/redis.js';
import { PostgresBatchStore } from '../src/stores/postgres/batch-store.js';
import { createJobRegistry, type JOB_DEFINITIONS } from '../jobs/registry.js';
import type { Producer } from './producer.js';
import type { QueueName } from '../src/config.js';
import { DEFAULT_FAIR_QUEUES } from './fair-priority.js';
import { openQueueLayer } from './queue-layer.js';
import type { QueueSetOptions } from './queue-set.js';
import {
  ingestIocs,
  type IngestIocsInput,
  type IngestLimits,
  type IngestResult,
} from './use-cases/ingest-iocs.js';
import {
  ingestActivities,
  type ActivityIngestResult,
  type IngestActivitiesInput,
} from './use-cases/ingest-activities.js';

/** The api's defaults of INGEST_MAX_IOCS and INGEST_CHUNK_SIZE. */
const DEFAULT_INGEST_LIMITS: IngestLimits = { maxIocs: 10_000, chunkSize: 1_000 };

/** Where the queues are: the same REDIS_URL and QUEUE_PREFIX as the workers'. */
export interface ProducerConnectionOptions {
  redisUrl: string;
  /**
   * The workers' DATABASE_URL: IOC batches wait in its batch store (`job_batches`) and the
   * jobs carry their digest, so enqueueing iocs.insert (and `ingestIocs`) needs it.
   */
  databaseUrl?: string;
  /** DATABASE_SCHEMA of the deployment (default `stowage`). */
  databaseSchema?: string;
  /** QUEUE_PREFIX of the deployment (default `stowage`). */
  queuePrefix?: string;
  /**
   * The deployment's JOBS_KEEP_COMPLETED, parsed (e.g. `{ ingest: 1000 }`): BullMQ trims a
   * queue's completed jobs by the options of the job that completes, so every producer of
   * a queue should enqueue with the same retention.
   */
  keepCompleted?: QueueSetOptions['keepCompleted'];
  /** Called with Redis connection errors and lost connections (otherwise ignored; calls fail on their own). */
  onError?: (err: Error) => void;
  /** The deployment's INGEST_MAX_IOCS and INGEST_CHUNK_SIZE (default 10,000 and 1,000). */
  ingest?: Partial<IngestLimits>;
  /**
   * The deployment's FAIR_QUEUES (default ingest and artifacts; `[]` for none): a job of a
   * fair queue enqueued without a priority would run before every tenant's work.
   */
  fairQueues?: readonly QueueName[];
}

/** A producer on its own Redis connection, and how to let go of both. */
export interface ProducerConnection {
  producer: Producer<typeof JOB_DEFINITIONS>;
  /**
   * What `POST /v1/ingest/iocs` does, in-process: the batch validated as a whole (errors name
   * the field), split into iocs.insert jobs, with a watermark a flow that commits it after
   * every insert; the same key (default: the batch's digest) and batch enqueue nothing twice.
   */
  ingestIocs: (input: IngestIocsInput) => Promise<IngestResult>;
  /**
   * What `POST /v1/ingest/activities` does, in-process (seed 000's store_activities_batch),
   * with the same limits as ingestIocs.
   */
  ingestActivities: (input: IngestActivitiesInput) => Promise<ActivityIngestResult>;
  close: () => Promise<void>;
}

/**
 * Opens a typed in-process producer of Stowage's job types for an application that shares
 * the queue Redis: no HTTP hop, the same validation and idempotency as the api. Calls fail
 * fast while Redis is away instead of hanging.
 */
export async function connectProducer(
  options: ProducerConnectionOptions,
): Promise<ProducerConnection> {
  const redis = createRedis(options.redisUrl, 'api', 'producer', options.onError);
  const pool = options.databaseUrl === undefined ? undefined : createPgPool(options.databaseUrl, 4);
  const layer = openQueueLayer(redis, {
    registry: createJobRegistry(),
    prefix: options.queuePrefix ?? 'stowage',
    ...(options.keepCompleted ? { keepCompleted: options.keepCompleted } : {}),
    fairQueues: options.fairQueues ?? DEFAULT_FAIR_QUEUES,
    ...(pool
      ? { batches: new PostgresBatchStore(pool, { schema: options.databaseSchema ?? 'stowage' }) }
      : {}),
  });
  const { producer } = layer;
  const close = async () => {
    await layer.close();
    await redis.quit().catch(() => redis.disconnect());
    await pool?.end().catch(() => undefined);
  };
  try {
    await layer.ready();
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
  const limits = { ...DEFAULT_INGEST_LIMITS, ...options.ingest };
  return {
    producer,
    ingestIocs: (input) => ingestIocs(producer, limits, input),
    ingestActivities: (input) => ingestActivities(producer, limits, input),
    close,
  };
}
