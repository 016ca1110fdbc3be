// API enqueue: requests/s and latency of the intake (validation, auth, idempotent job id,
// problem handling) against a minimal express route that calls `Queue.add` (its own process,
// so HTTP costs both sides the same), and against BullMQ's own add/addBulk from the bench
// process at the same concurrency.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_DEFAULTS } from '../../queues/queue-defaults.js';
import { freePort } from '../../test/helpers/cli-process.js';
import { closedLoop, postJson, type LoadResult } from '../lib/load.js';
import { percentile } from '../lib/measure.js';
import type { Row, Section } from '../lib/report.js';
import { StowageProcess, benchStack, type BenchStack } from '../lib/stack.js';

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

/** bench/baselines/express-enqueue.ts on a free port, in a queue prefix of its own. */
async function expressBaseline(stack: BenchStack, prefix: string) {
  const port = await freePort();
  const proc = StowageProcess.script(stack, 'bench/baselines/express-enqueue.ts', {
    PORT: String(port),
    QUEUE_PREFIX: prefix,
  });
  const base = `http://127.0.0.1:${port}`;
  await proc.until(async () => ((await fetch(`${base}/health`)).ok ? true : undefined), 'express');
  return { proc, base };
}

export async function apiEnqueue(options: ApiEnqueueOptions): Promise<Section> {
  const stack = benchStack();
  const { proc, base } = await StowageProcess.api(stack);
  const expressPrefix = `${stack.env.QUEUE_PREFIX}express`;
  const express = await expressBaseline(stack, expressPrefix).catch(async (err: unknown) => {
    await proc.stop();
    throw err;
  });
  const redis = new Redis(stack.env.REDIS_URL!, { maxRetriesPerRequest: 1 });
  const direct = new Queue('ingest', {
    connection: redis,
    prefix: `${stack.env.QUEUE_PREFIX}direct`,
    defaultJobOptions: QUEUE_DEFAULTS.ingest.job,
  });
  const apiQueue = new Queue('ingest', { connection: redis, prefix: stack.env.QUEUE_PREFIX! });
  const expressQueue = new Queue('ingest', { connection: redis, prefix: expressPrefix });
  const expressAdd = (i: number, run: string) =>
    postJson(`${express.base}/v1/jobs/watermark.commit`, stack.key, payload(i, run));
  const load = { concurrency: options.concurrency, seconds: options.seconds };
  const results: Record<string, LoadResult> = {};
  try {
    // A short warm-up of each path (JIT, connection pools), not measured.
    const warm = { concurrency: options.concurrency, seconds: 1 };
    await closedLoop(
      (i) => postJson(`${base}/v1/jobs/watermark.commit`, stack.key, payload(i, 'warm')),
      warm,
    );
    await closedLoop((i) => expressAdd(i, 'warm'), warm);
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
    // Right after the api, so both HTTP runs see the same machine.
    results.expressSingle = await closedLoop((i) => expressAdd(i, 'express'), load);
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
    await express.proc.stop();
    await expressQueue.obliterate({ force: true }).catch(() => undefined);
    await direct.obliterate({ force: true }).catch(() => undefined);
    await apiQueue.obliterate({ force: true }).catch(() => undefined);
    await direct.close();
    await apiQueue.close();
    await expressQueue.close();
    redis.disconnect();
  }
  for (const [name, r] of Object.entries(results))
    if (r.errors > 0) throw new Error(`${name}: ${r.errors} errors, first: ${r.firstError}`);

  const ms = (v: number) => `${v.toFixed(2)} ms`;
  const perSecond = (r: LoadResult, unit: string) =>
    `${Math.round(r.rate).toLocaleString('en')} ${unit}`;
  const p50p99 = (r: LoadResult) =>
    `${ms(percentile(r.latencies, 50))} / ${ms(percentile(r.latencies, 99))}`;
  const rows = (label: string, api: LoadResult, base: LoadResult, perRequest: number): Row[] => [
    {
      figure: `${label}: requests/s`,
      value: `${Math.round(api.rate).toLocaleString('en')} req/s (${Math.round(api.rate * perRequest).toLocaleString('en')} jobs/s)`,
      baseline: perSecond(base, 'calls/s'),
      ratio: api.rate / base.rate,
    },
    {
      figure: `${label}: latency p50 / p99`,
      value: p50p99(api),
      baseline: p50p99(base),
    },
  ];
  return {
    id: 'api-enqueue',
    title: 'API enqueue',
    method: [
      `\`stowage api\` as its own process; the bench process keeps ${options.concurrency} requests in`,
      `flight for ${options.seconds} s each (closed loop, keep-alive \`fetch\`): \`POST /v1/jobs/watermark.commit\``,
      `(one small payload) and \`POST /v1/jobs/watermark.commit/bulk\` (${options.bulkSize} payloads),`,
      'each answered 202 after the job is in Redis. The goal baseline for the single enqueue is',
      'a minimal express app, also its own process (bench/baselines/express-enqueue.ts:',
      '`express.json()` and one route that calls `Queue.add` on the `ingest` queue with its',
      'default job options and a hashed natural-key job id, then answers 202 with a small JSON',
      "body), measured right after the api with the same load: that ratio is what Stowage's own",
      'layers (auth, validation, idempotency, problem handling) cost, HTTP being the same on',
      'both sides. The other rows compare with BullMQ itself from the bench process at the same',
      'concurrency: `Queue.add` and `Queue.addBulk` of the same payloads with explicit job ids,',
      'so their ratio also counts HTTP and a second process on the same 2 cores.',
    ].join(' '),
    rows: [
      {
        figure: 'single: against a minimal express route + Queue.add',
        value: perSecond(results.apiSingle, 'req/s'),
        baseline: perSecond(results.expressSingle, 'req/s'),
        ratio: results.apiSingle.rate / results.expressSingle.rate,
        goal: 0.5,
      },
      {
        figure: 'single: latency p50 / p99 against the express route',
        value: p50p99(results.apiSingle),
        baseline: p50p99(results.expressSingle),
      },
      ...rows('single', results.apiSingle, results.directSingle, 1),
      ...rows(`bulk of ${options.bulkSize}`, results.apiBulk, results.directBulk, options.bulkSize),
    ],
  };
}
