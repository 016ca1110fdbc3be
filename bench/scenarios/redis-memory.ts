// Redis memory held by completed jobs under the retention defaults (removeOnComplete: a
// day, at most 10,000 per queue), measured key by key with MEMORY USAGE so other clients
// of the same server do not count.
import { Redis } from 'ioredis';
import pg from 'pg';
import { pino } from 'pino';
import { createJobRegistry } from '../../jobs/registry.js';
import { Producer } from '../../queues/producer.js';
import { QueueSet } from '../../queues/queue-set.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import { PostgresBatchStore } from '../../src/stores/postgres/batch-store.js';
import { WorkerHost } from '../../workers/worker-host.js';
import { waitFor } from '../lib/measure.js';
import type { Row, Section } from '../lib/report.js';
import { benchStack } from '../lib/stack.js';

/** Bytes of every key under prefix (MEMORY USAGE, all samples). */
async function bytesUnder(redis: Redis, prefix: string): Promise<{ bytes: number; keys: number }> {
  let cursor = '0';
  let bytes = 0;
  let keys = 0;
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    const pipeline = redis.pipeline();
    for (const key of batch) pipeline.memory('USAGE', key, 'SAMPLES', 0);
    for (const [, n] of (await pipeline.exec()) ?? []) bytes += Number(n ?? 0);
    keys += batch.length;
  } while (cursor !== '0');
  return { bytes, keys };
}

export interface RedisMemoryOptions {
  /** Jobs run per type; more than the retention count shows the trim, fewer are scaled up. */
  jobs: Record<'watermark.commit' | 'iocs.insert', number>;
  /** Batch sizes of iocs.insert measured (each its own run): the goal holds whatever the size. */
  iocsPerInsert: number[];
}

/** Issue 14's bound on what an ingest job may hold in Redis, enqueued or retained. */
const GOAL_BYTES = 2_048;

export async function redisMemory(options: RedisMemoryOptions): Promise<Section> {
  const stack = benchStack();
  const redis = new Redis(stack.env.REDIS_URL!, { maxRetriesPerRequest: null });
  const log = createLogger(
    { LOG_LEVEL: 'warn', LOG_PRETTY: false },
    {},
    pino.destination('/dev/null'),
  );
  const rows: Row[] = [];
  const now = Date.now();
  const cases = [
    {
      type: 'watermark.commit',
      label: '`watermark.commit`',
      jobs: options.jobs['watermark.commit'],
      payload: (i: number) => ({
        source_id: 'bench',
        timestamp: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
        status: 'success',
        records_collected: 1000,
      }),
    },
    ...options.iocsPerInsert.map((size) => ({
      type: 'iocs.insert',
      label: `\`iocs.insert\` (${size.toLocaleString('en')} IOCs a job)`,
      jobs: options.jobs['iocs.insert'],
      payload: (i: number) => ({
        iocs: Array.from({ length: size }, (_, k) => ({
          type: 'domain',
          value: `host-${i}-${k}.example.com`,
          threat_type: 'c2',
          confidence: 0.7,
          source: 'bench',
          first_seen: new Date(now - 7_200_000).toISOString(),
          last_seen: new Date(now - 3_600_000).toISOString(),
          tags: ['bench'],
        })),
      }),
    })),
  ];
  // The batch store of the api and the in-process producer: IOC batches wait there and the
  // job carries their digest.
  const pool = new pg.Pool({ connectionString: stack.env.DATABASE_URL, max: 2 });
  const batches = new PostgresBatchStore(pool, { schema: stack.env.DATABASE_SCHEMA! });
  await batches.init();
  const perJob = (bytes: number, jobs: number) => (jobs === 0 ? 0 : bytes / jobs);
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(2)} KiB`;
  try {
    for (const [n, { type, label, jobs, payload }] of cases.entries()) {
      const prefix = `${stack.env.QUEUE_PREFIX!}m${n}`;
      const queues = new QueueSet(redis, prefix, ['ingest']);
      // Retention is per queue: BullMQ trims a queue's completed set as a whole.
      const retained = (queues.jobDefaults('ingest').removeOnComplete as { count: number }).count;
      const producer = new Producer(createJobRegistry(), queues, redis, { batches });
      const queue = queues.get('ingest');
      // Enqueued first, the queue paused: what a waiting job holds.
      await queue.pause();
      const batch = type === 'iocs.insert' ? 20 : 1000;
      for (let i = 0; i < jobs; i += batch)
        await producer.enqueueBulkByName(
          type,
          Array.from({ length: Math.min(batch, jobs - i) }, (_, k) => payload(i + k)),
        );
      const waiting = await bytesUnder(redis, prefix);
      const waitingPerJob = perJob(waiting.bytes, jobs);
      // Handlers that return at once: retention keeps the job, its data and return value.
      const host = new WorkerHost({
        connect: () => new Redis(stack.env.REDIS_URL!, { maxRetriesPerRequest: null }),
        prefix,
        queues: ['ingest'],
        registry: createJobRegistry(),
        handlers: { [type]: () => Promise.resolve({ ok: true }) },
        log,
        metrics: createMetrics({ role: 'worker' }),
      });
      host.start();
      await queue.resume();
      await waitFor(
        async () => ((await queue.getJobCounts('wait', 'active')).wait === 0 ? true : undefined),
        30 * 60_000,
        `${type} jobs done`,
        250,
      );
      await waitFor(
        async () => {
          const c = await queue.getJobCounts('active', 'completed');
          const completed = c.completed ?? 0;
          return c.active === 0 && completed <= retained ? completed : undefined;
        },
        60_000,
        'retention applied',
        250,
      );
      await host.stop(5_000);
      const counts = await queue.getJobCounts('completed', 'failed');
      const kept = { completed: counts.completed ?? 0, failed: counts.failed ?? 0 };
      const { bytes, keys } = await bytesUnder(redis, prefix);
      const retainedPerJob = perJob(bytes, kept.completed);
      const per10k = retainedPerJob * 10_000;
      const ingest = type === 'iocs.insert';
      rows.push(
        {
          figure: `${label}: retained (completed)`,
          value: `${kib(retainedPerJob)} a job (${(per10k / 1024 / 1024).toFixed(1)} MiB per 10,000)`,
          baseline: ingest
            ? `${kib(GOAL_BYTES)} (the goal's bound)`
            : `at most ${retained.toLocaleString('en')} kept: ${((retainedPerJob * retained) / 1024 / 1024).toFixed(1)} MiB`,
          ...(ingest ? { ratio: GOAL_BYTES / retainedPerJob, goal: 1 } : {}),
          note: `${jobs.toLocaleString('en')} run, ${kept.completed.toLocaleString('en')} kept, ${kept.failed} failed, ${keys.toLocaleString('en')} keys, ${(bytes / 1024 / 1024).toFixed(1)} MiB`,
        },
        {
          figure: `${label}: enqueued (waiting)`,
          value: `${kib(waitingPerJob)} a job`,
          ...(ingest
            ? {
                baseline: `${kib(GOAL_BYTES)} (the goal's bound)`,
                ratio: GOAL_BYTES / waitingPerJob,
                goal: 1,
              }
            : {}),
          note: `${jobs.toLocaleString('en')} waiting, ${waiting.keys.toLocaleString('en')} keys`,
        },
      );
      await queue.obliterate({ force: true });
      await producer.close();
      await queues.close();
    }
  } finally {
    redis.disconnect();
    await pool
      .query(`DROP SCHEMA IF EXISTS "${stack.env.DATABASE_SCHEMA!}" CASCADE`)
      .catch(() => undefined);
    await pool.end();
  }
  return {
    id: 'redis-memory',
    title: 'Redis memory of retained completed jobs',
    method: [
      'For each job type (and `iocs.insert` at two batch sizes), jobs are enqueued through',
      "the producer (the type's own options and the queue's retention: completed jobs kept a",
      'day, at most 10,000 per queue; IOC batches staged in the PostgreSQL batch store, the job',
      'carrying their digest) into a paused queue, and `MEMORY USAGE` of every key under the',
      'queue prefix is summed (the waiting figure); then a worker whose handler returns at once',
      'runs them, and once the queue is drained and trimmed the sum is taken again (the job',
      "hashes, the completed set, the event stream, the queue's meta keys), per job kept. The",
      'goal rows compare with 2 KiB, the bound of issue 14 (ratio = 2 KiB ÷ bytes a job).',
    ].join(' '),
    rows,
  };
}
