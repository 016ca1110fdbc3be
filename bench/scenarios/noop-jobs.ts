// No-op jobs: the Stowage worker runtime (payload parsing, context, logging, error
// classification) against a bare BullMQ Worker on the same queue options, same process.
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { defineJob } from '../../jobs/job-definition.js';
import { JobRegistry } from '../../jobs/job-registry.js';
import { QUEUE_DEFAULTS } from '../../queues/queue-defaults.js';
import { createLogger, logDestination } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import { WorkerHost } from '../../workers/worker-host.js';
import { median, since } from '../lib/measure.js';
import type { Section } from '../lib/report.js';
import { benchStack } from '../lib/stack.js';

const noopJob = defineJob({
  name: 'bench.noop',
  queue: 'ingest',
  description: 'Does nothing: measures the runtime around a handler.',
  scope: 'ingest',
  payload: z.object({ n: z.number().int() }),
  fixture: { n: 0 },
});

export interface NoopOptions {
  concurrencies: number[];
  jobs: number;
  rounds: number;
}

/** Jobs/s of each runtime at each concurrency, alternating runtimes each round. */
export async function noopJobs(options: NoopOptions): Promise<Section> {
  const stack = benchStack();
  const redisUrl = stack.env.REDIS_URL!;
  const connections: Redis[] = [];
  const connect = () => {
    const c = new Redis(redisUrl, { maxRetriesPerRequest: null });
    connections.push(c);
    return c;
  };
  const admin = connect();
  // Stowage logs a line per completed job at info; that is part of its cost, so it is
  // kept, written to /dev/null instead of a terminal — through the same stream as a
  // worker's stdout (logDestination), not a synchronous one.
  const log = createLogger(
    { LOG_LEVEL: (process.env.BENCH_LOG as 'info') ?? 'info', LOG_PRETTY: false },
    { role: 'bench' },
    logDestination('/dev/null'),
  );
  // One registry for every run, as a worker process has: a registry a run collects Node's
  // default metrics into (GC observer, event-loop monitor) that are never stopped, so
  // fresh ones per run would pile up and slow every later run, bare ones included.
  const metrics = createMetrics({ role: 'worker' });
  const registry = new JobRegistry([noopJob] as const);
  const results = new Map<string, number[]>();
  // CPU time of the bench process a job (µs): what the runtime costs, which a busy machine
  // shifts far less than it shifts jobs/s.
  const cpu = new Map<string, number[]>();

  /** Fills a fresh queue with n jobs, runs one worker until all completed; jobs/s. */
  async function run(kind: 'bare' | 'stowage', concurrency: number, round: number) {
    const prefix = `${stack.env.QUEUE_PREFIX}${kind}${concurrency}r${round}`;
    const queue = new Queue('ingest', {
      connection: admin,
      prefix,
      defaultJobOptions: QUEUE_DEFAULTS.ingest.job,
    });
    for (let i = 0; i < options.jobs; i += 1000) {
      const n = Math.min(1000, options.jobs - i);
      await queue.addBulk(
        Array.from({ length: n }, (_, k) => ({ name: 'bench.noop', data: { n: i + k } })),
      );
    }
    let done = 0;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const onCompleted = () => {
      if (++done === options.jobs) finish();
    };
    let close: () => Promise<void>;
    let start: number;
    let cpuStart: NodeJS.CpuUsage;
    if (kind === 'bare') {
      // The Worker options a WorkerHost gives its Workers, so only the runtime differs.
      const lockDuration = QUEUE_DEFAULTS.ingest.lockDuration;
      const worker = new Worker('ingest', (_job: Job) => Promise.resolve(undefined), {
        connection: connect(),
        prefix,
        concurrency,
        lockDuration,
        stalledInterval: Math.min(30_000, lockDuration),
        maxStalledCount: 3,
        autorun: false,
      });
      worker.on('error', () => undefined);
      worker.on('completed', onCompleted);
      await worker.waitUntilReady();
      start = performance.now();
      cpuStart = process.cpuUsage();
      void worker.run();
      close = () => worker.close();
    } else {
      const host = new WorkerHost({
        connect,
        prefix,
        queues: ['ingest'],
        concurrency: { ingest: concurrency },
        registry,
        handlers: { 'bench.noop': () => Promise.resolve(undefined) },
        log,
        metrics,
      });
      host.workers[0]!.on('completed', onCompleted);
      await host.ready();
      start = performance.now();
      cpuStart = process.cpuUsage();
      host.start();
      close = () => host.stop(5_000);
    }
    await finished;
    const rate = options.jobs / (since(start) / 1000);
    const used = process.cpuUsage(cpuStart);
    const cpuPerJob = (used.user + used.system) / options.jobs;
    await close();
    await queue.obliterate({ force: true });
    await queue.close();
    const key = `${kind}:${concurrency}`;
    results.set(key, [...(results.get(key) ?? []), rate]);
    cpu.set(key, [...(cpu.get(key) ?? []), cpuPerJob]);
  }

  try {
    for (let round = 0; round < options.rounds; round++) {
      for (const c of options.concurrencies) {
        // Alternate who goes first, so a warming cache or a noisy neighbour does not
        // favour one side.
        const order =
          round % 2 === 0 ? (['bare', 'stowage'] as const) : (['stowage', 'bare'] as const);
        for (const kind of order) await run(kind, c, round);
      }
    }
  } finally {
    await Promise.all(connections.map((c) => c.quit().catch(() => c.disconnect())));
  }

  return {
    id: 'noop-jobs',
    title: 'No-op jobs: Stowage worker against a bare BullMQ Worker',
    method: [
      `${options.jobs.toLocaleString('en')} jobs with a one-field payload are put on a fresh queue`,
      '(the `ingest` queue options: retention, attempts, lock duration), then one worker in the',
      'bench process runs them to the last `completed` event: a bare BullMQ `Worker` whose',
      'processor returns at once, and a Stowage `WorkerHost` with a handler that returns at',
      'once (so the payload parse, job context, child logger, the `job completed` log line at',
      'info — to /dev/null through the buffered stream a worker writes its stdout with — and',
      'error classification are what differ; both Workers get the same options). Each concurrency runs',
      `${options.rounds} rounds, alternating which runtime goes first; the table gives the medians.`,
      'The note gives the CPU time of the bench process a job (all threads), which a busy machine',
      'moves far less than it moves jobs/s.',
    ].join(' '),
    rows: options.concurrencies.map((c) => {
      const bare = median(results.get(`bare:${c}`)!);
      const stowage = median(results.get(`stowage:${c}`)!);
      return {
        figure: `concurrency ${c}`,
        value: `${Math.round(stowage).toLocaleString('en')} jobs/s`,
        baseline: `${Math.round(bare).toLocaleString('en')} jobs/s`,
        ratio: stowage / bare,
        goal: 0.9,
        note: `CPU a job: ${median(cpu.get(`stowage:${c}`)!).toFixed(0)} µs, bare ${median(cpu.get(`bare:${c}`)!).toFixed(0)} µs`,
      };
    }),
  };
}
