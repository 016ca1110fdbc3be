// API enqueue: requests/s and latency of the intake (validation, auth, idempotent job id,
// problem handling) against BullMQ's own add/addBulk from the same process and concurrency.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_DEFAULTS } from '../../queues/queue-defaults.js';
import { closedLoop, postJson, type LoadResult } from '../lib/load.js';
import { percentile } from '../lib/measure.js';
import type { Row, Section } from '../lib/report.js';
import { StowageProcess, benchStack } from '../lib/stack.js';

export interface ApiEnqueueOptions {
  concurrency: number;
  seconds: number;
  bulkSize: number;
}

const payload = (i: number, run: string) => ({
  source_id: `bench-${run}`,
  timestamp: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
  status: 'success',
  records_collected: i,
});

export async function apiEnqueue(options: ApiEnqueueOptions): Promise<Section> {
  const stack = benchStack();
  const { proc, base } = await StowageProcess.api(stack);
  const redis = new Redis(stack.env.REDIS_URL!, { maxRetriesPerRequest: 1 });
  const direct = new Queue('ingest', {
    connection: redis,
    prefix: `${stack.env.QUEUE_PREFIX}direct`,
    defaultJobOptions: QUEUE_DEFAULTS.ingest.job,
  });
  const apiQueue = new Queue('ingest', { connection: redis, prefix: stack.env.QUEUE_PREFIX! });
  const load = { concurrency: options.concurrency, seconds: options.seconds };
  const results: Record<string, LoadResult> = {};
  try {
    // A short warm-up of each path (JIT, connection pools), not measured.
    const warm = { concurrency: options.concurrency, seconds: 1 };
    await closedLoop(
      (i) => postJson(`${base}/v1/jobs/watermark.commit`, stack.key, payload(i, 'warm')),
      warm,
    );
    await closedLoop(
      async (i) => void (await direct.add('watermark.commit', payload(i, 'warm'))),
      warm,
    );

    results.directSingle = await closedLoop(async (i) => {
      await direct.add('watermark.commit', payload(i, 'direct'), {
        jobId: `watermark.commit.d${i}`,
      });
    }, load);
    results.apiSingle = await closedLoop(
      (i) => postJson(`${base}/v1/jobs/watermark.commit`, stack.key, payload(i, 'api')),
      load,
    );
    const batch = (i: number, run: string) =>
      Array.from({ length: options.bulkSize }, (_, k) => payload(i * options.bulkSize + k, run));
    results.directBulk = await closedLoop(async (i) => {
      await direct.addBulk(
        batch(i, 'direct-bulk').map((data, k) => ({
          name: 'watermark.commit',
          data,
          opts: { jobId: `watermark.commit.b${i}-${k}` },
        })),
      );
    }, load);
    results.apiBulk = await closedLoop(
      (i) =>
        postJson(`${base}/v1/jobs/watermark.commit/bulk`, stack.key, {
          payloads: batch(i, 'api-bulk'),
        }),
      load,
    );
  } finally {
    await proc.stop();
    await direct.obliterate({ force: true }).catch(() => undefined);
    await apiQueue.obliterate({ force: true }).catch(() => undefined);
    await direct.close();
    await apiQueue.close();
    redis.disconnect();
  }
  for (const [name, r] of Object.entries(results))
    if (r.errors > 0) throw new Error(`${name}: ${r.errors} errors, first: ${r.firstError}`);

  const ms = (v: number) => `${v.toFixed(2)} ms`;
  const rows = (label: string, api: LoadResult, base: LoadResult, perRequest: number): Row[] => [
    {
      figure: `${label}: requests/s`,
      value: `${Math.round(api.rate).toLocaleString('en')} req/s (${Math.round(api.rate * perRequest).toLocaleString('en')} jobs/s)`,
      baseline: `${Math.round(base.rate).toLocaleString('en')} calls/s`,
      ratio: api.rate / base.rate,
    },
    {
      figure: `${label}: latency p50 / p99`,
      value: `${ms(percentile(api.latencies, 50))} / ${ms(percentile(api.latencies, 99))}`,
      baseline: `${ms(percentile(base.latencies, 50))} / ${ms(percentile(base.latencies, 99))}`,
    },
  ];
  return {
    id: 'api-enqueue',
    title: 'API enqueue',
    method: [
      `\`stowage api\` as its own process; the bench process keeps ${options.concurrency} requests in`,
      `flight for ${options.seconds} s each (closed loop, keep-alive \`fetch\`): \`POST /v1/jobs/watermark.commit\``,
      `(one small payload) and \`POST /v1/jobs/watermark.commit/bulk\` (${options.bulkSize} payloads),`,
      'each answered 202 after the job is in Redis. The baseline is BullMQ itself from the bench',
      'process at the same concurrency: `Queue.add` and `Queue.addBulk` of the same payloads',
      'with explicit job ids. The ratio is what HTTP, auth, validation and the idempotent job id',
      'cost against calling BullMQ in-process; the API is a second process on the same 2 cores.',
    ].join(' '),
    rows: [
      ...rows('single', results.apiSingle, results.directSingle, 1),
      ...rows(`bulk of ${options.bulkSize}`, results.apiBulk, results.directBulk, options.bulkSize),
    ],
  };
}
