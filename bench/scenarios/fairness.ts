// Fairness: tenant A posts a large IOC backlog, then tenant B one batch; how long B waits,
// with FAIR_QUEUES on (start-time fair queuing on BullMQ priorities) and off (plain FIFO),
// through `stowage api` and one `stowage worker --queues ingest` at its default concurrency.
import { randomBytes } from 'node:crypto';
import { Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_DEFAULTS } from '../../queues/queue-defaults.js';
import type { Row, Section } from '../lib/report.js';
import { StowageProcess, benchStack } from '../lib/stack.js';
import { dropStores } from './ioc-ingest.js';

export interface FairnessOptions {
  /** IOCs tenant A posts (in requests of perRequest, split into jobs of 1,000). */
  backlog: number;
  perRequest: number;
  /** IOCs of tenant B's one batch (one job). */
  batch: number;
}

/** n distinct recent domains. */
function iocs(n: number, tag: string) {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => ({
    type: 'domain' as const,
    value: `host-${i}.${tag}.example.com`,
    threat_type: 'c2',
    confidence: 0.5,
    source: 'bench',
    first_seen: new Date(now - 5 * 3_600_000).toISOString(),
    last_seen: new Date(now - 3_600_000).toISOString(),
  }));
}

async function post(base: string, key: string, body: unknown): Promise<{ id: string }[]> {
  const res = await fetch(`${base}/v1/ingest/iocs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 202) throw new Error(`ingest: ${res.status} ${text.slice(0, 300)}`);
  return (JSON.parse(text) as { jobs: { id: string }[] }).jobs;
}

interface RunResult {
  /** From B's request to B's job completed (s). */
  bSeconds: number;
  /** From the queue's resume (A's backlog all queued) to A's last job completed (s). */
  aSeconds: number;
  /** A's jobs still queued or running when B's job was enqueued. */
  aAhead: number;
  /** A's jobs started after B's was enqueued and before B's started. */
  aStartedBefore: number;
  bPriority: number;
}

/** One run in a stack of its own: A's backlog, then B's batch; times from the jobs. */
async function run(fair: boolean, options: FairnessOptions): Promise<RunResult> {
  const keyA = randomBytes(16).toString('hex');
  const keyB = randomBytes(16).toString('hex');
  const stack = benchStack({
    HOT_STORE: 'postgres',
    FAIR_QUEUES: fair ? 'ingest,artifacts' : 'none',
    INGEST_MAX_IOCS: String(options.perRequest),
  });
  stack.env.API_KEYS = `${stack.env.API_KEYS},a:${keyA}:ingest:tenant-a,b:${keyB}:ingest:tenant-b`;
  const redis = new Redis(stack.env.REDIS_URL!);
  const queue = new Queue('ingest', { connection: redis, prefix: stack.env.QUEUE_PREFIX! });
  const procs: StowageProcess[] = [];
  try {
    const { proc: api, base } = await StowageProcess.api(stack);
    procs.push(api, await StowageProcess.worker(stack, ['ingest']));
    // A's whole backlog is queued before any of it runs (the queue paused meanwhile), so B
    // meets all of it: posting 200,000 IOCs takes about as long as the worker takes to drain.
    await queue.pause();
    const aJobs: string[] = [];
    const requests = Math.ceil(options.backlog / options.perRequest);
    let next = 0;
    // Two requests in flight, as a collector pushing a large backlog would.
    await Promise.all(
      Array.from({ length: 2 }, async () => {
        for (let i = next++; i < requests; i = next++) {
          const jobs = await post(base, keyA, {
            source_id: 'tenant-a',
            iocs: iocs(options.perRequest, `a${i}-${stack.suffix}`),
          });
          aJobs.push(...jobs.map((j) => j.id));
        }
      }),
    );
    const aStarted = Date.now();
    await queue.resume();
    // B arrives once the worker is well into A's backlog (the virtual time has moved).
    await api.until(
      async () => ((await queue.getCompletedCount()) >= 16 ? true : undefined),
      'A under way',
      10 * 60_000,
    );
    const bSent = Date.now();
    const [b] = await post(base, keyB, {
      source_id: 'tenant-b',
      iocs: iocs(options.batch, `b-${stack.suffix}`),
    });
    const aAhead = (await queue.getJobCounts('wait', 'prioritized', 'active')) as Record<
      string,
      number
    >;
    const finished = async (id: string) =>
      api.until(
        async () => {
          const job = await queue.getJob(id);
          return job?.finishedOn ? job : undefined;
        },
        `job ${id}`,
        30 * 60_000,
      );
    const bJob: Job = await finished(b!.id);
    const aDone = await Promise.all(aJobs.map(finished));
    const aEnd = Math.max(...aDone.map((j) => j.finishedOn!));
    const bEnqueued = bJob.timestamp;
    return {
      bSeconds: (bJob.finishedOn! - bSent) / 1000,
      aSeconds: (aEnd - aStarted) / 1000,
      aAhead: Object.values(aAhead).reduce((x, y) => x + y, 0),
      aStartedBefore: aDone.filter(
        (j) => j.processedOn! > bEnqueued && j.processedOn! < bJob.processedOn!,
      ).length,
      bPriority: Number(bJob.priority),
    };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await queue.obliterate({ force: true }).catch(() => undefined);
    await redis.del(`${stack.env.QUEUE_PREFIX!}:ingest:fair`);
    await queue.close();
    await redis.quit();
    await dropStores(stack);
  }
}

/** B's wait behind A's backlog, fair and FIFO. */
export async function fairness(options: FairnessOptions): Promise<Section> {
  const concurrency = QUEUE_DEFAULTS.ingest.concurrency;
  const fifo = await run(false, options);
  const fair = await run(true, options);
  const s = (x: number) => `${x.toFixed(2)} s`;
  const jobs = options.backlog / 1_000;
  const rows: Row[] = [
    {
      figure: `B's batch (${options.batch.toLocaleString('en')} IOCs): request → job completed`,
      value: s(fair.bSeconds),
      baseline: `${s(fifo.bSeconds)} (FIFO)`,
      ratio: fifo.bSeconds / fair.bSeconds,
      note: `A's jobs queued or running when B's was enqueued: ${fair.aAhead} (FIFO run: ${fifo.aAhead})`,
    },
    {
      figure: "A's jobs started after B's was queued, before B's started",
      value: String(fair.aStartedBefore),
      baseline: `${fifo.aStartedBefore} (FIFO)`,
      note: `bound: 1 (one other tenant with queued work) plus one clock report period; B's priority ${fair.bPriority}`,
    },
    {
      figure: `A's backlog (${options.backlog.toLocaleString('en')} IOCs, ${jobs} jobs): queue resumed → last job completed`,
      value: s(fair.aSeconds),
      baseline: `${s(fifo.aSeconds)} (FIFO)`,
      ratio: fifo.aSeconds / fair.aSeconds,
      note: 'what fairness costs the tenant with the backlog',
    },
  ];
  return {
    id: 'fairness',
    title: `Fairness: a second tenant behind a ${options.backlog.toLocaleString('en')}-IOC backlog`,
    method: [
      '`stowage api` and one `stowage worker --queues ingest` (concurrency ' +
        `${concurrency}, the default) as their own processes, PostgreSQL hot store. Tenant A's key posts`,
      `${options.backlog.toLocaleString('en')} IOCs to \`POST /v1/ingest/iocs\` in requests of ${options.perRequest.toLocaleString('en')}`,
      `(${jobs} \`iocs.insert\` jobs of 1,000), two requests in flight, with the ingest queue paused, so`,
      "A's whole backlog is queued; then the queue is resumed, and once 16 of A's jobs completed",
      `tenant B's key posts one batch of ${options.batch.toLocaleString('en')} IOCs (one job).`,
      "B's figure runs from its request to its job's `finishedOn`; A's from the resume to the",
      'last of its jobs completed. Each side runs in a stack of its own, the baseline with',
      '`FAIR_QUEUES=none` (one FIFO per queue, as before), the figure with the default',
      '`FAIR_QUEUES=ingest,artifacts` (docs/FAIRNESS.md).',
    ].join(' '),
    rows,
  };
}
