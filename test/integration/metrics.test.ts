import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { startMetricsServer, type MetricsServer } from '../../src/metrics-server.js';
import { QueueSet } from '../../queues/queue-set.js';
import { WorkerHost } from '../../workers/worker-host.js';
import { startWorker } from '../../workers/worker-process.js';
import { testHandlers } from '../fixtures/test-jobs.js';
import type { RunningProcess } from '../../src/running-process.js';
import { TestWorld, StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';
import { scrape, type Scrape } from '../helpers/prometheus.js';

const HOUR = 3_600_000;
const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();
const silent = createLogger({ LOG_LEVEL: 'silent', LOG_PRETTY: false });

/** n distinct domains: even ones hot (cached), odd ones cold (stored only). */
function iocs(n: number) {
  return Array.from({ length: n }, (_, i) => ({
    type: 'domain' as const,
    value: `metrics-${i}.example.com`,
    threat_type: 'c2',
    confidence: i % 2 === 0 ? 0.9 : 0.5,
    first_seen: iso(5 * HOUR),
    last_seen: iso(HOUR),
  }));
}

/** How much each series moved between two scrapes. */
const delta =
  (before: Scrape, after: Scrape) =>
  (name: string, labels: Record<string, string> = {}) =>
    after.value(name, labels) - before.value(name, labels);

describe('metrics', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.reverse()) await step();
    cleanup.length = 0;
  });

  it('the api and a worker count the jobs, rows, cache hits and misses and queue depths of a real ingest', async () => {
    const world = new StowageWorld({ INGEST_CHUNK_SIZE: '4', ARCHIVE_ENABLED: 'false' });
    cleanup.push(() => world.close());
    await world.initStores();
    const api = await world.startApi();
    // A real worker process's code path (its own deps, registry and listener), in-process.
    const worker: RunningProcess & { metricsUrl: string } = await startWorker(
      { ...world.config, WORKER_METRICS_PORT: 0 },
      silent,
      ['ingest', 'maintenance'],
    );
    cleanup.push(() => worker.stop());
    const post = (path: string, body: unknown) =>
      fetch(`${api}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_KEYS.admin}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const get = (path: string) =>
      fetch(`${api}${path}`, { headers: { authorization: `Bearer ${TEST_KEYS.read}` } });

    const [api0, worker0] = await Promise.all([scrape(api), scrape(worker.metricsUrl)]);
    expect(worker0.value('stowage_queue_jobs', { queue: 'ingest', state: 'waiting' })).toBe(0);
    expect(worker0.has('stowage_queue_jobs', { queue: 'cache' })).toBe(false);

    // 10 IOCs in chunks of 4: three iocs.insert children under one watermark.commit.
    const res = await post('/v1/ingest/iocs', {
      source_id: 'otx',
      iocs: iocs(10),
      watermark: { timestamp: '2026-01-01T00:00:00Z' },
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    await eventually(
      async () => {
        const status = (await (await get(`/v1/jobs/${id}`)).json()) as { state: string };
        return status.state === 'completed' ? true : undefined;
      },
      20_000,
      'the ingest flow completed',
    );
    // A job on a queue nobody serves here stays waiting: the api's gauge shows it.
    await world.producer.enqueueByName('cache.promote', {});

    expect((await get('/v1/iocs/domain/metrics-0.example.com')).status).toBe(200); // hot: hit
    expect((await get('/v1/iocs/domain/metrics-1.example.com')).status).toBe(200); // cold: miss
    expect((await get('/v1/iocs/domain/nowhere.example.com')).status).toBe(404); // unknown: miss

    const [api1, worker1] = await Promise.all([scrape(api), scrape(worker.metricsUrl)]);
    const w = delta(worker0, worker1);
    const insert = { role: 'worker', queue: 'ingest', type: 'iocs.insert' };
    const commit = { role: 'worker', queue: 'ingest', type: 'watermark.commit' };
    expect(w('stowage_jobs_total', { ...insert, outcome: 'completed' })).toBe(3);
    expect(w('stowage_jobs_total', { ...commit, outcome: 'completed' })).toBe(1);
    expect(w('stowage_jobs_total', { ...insert, outcome: 'failed' })).toBe(0);
    expect(w('stowage_job_duration_seconds_count', insert)).toBe(3);
    expect(w('stowage_job_duration_seconds_bucket', { ...insert, le: '+Inf' })).toBe(3);
    expect(w('stowage_job_duration_seconds_sum', insert)).toBeGreaterThan(0);
    expect(w('stowage_rows_inserted_total', insert)).toBe(10);
    expect(w('stowage_job_retries_total', insert)).toBe(0);
    expect(worker1.value('stowage_queue_jobs', { queue: 'ingest', state: 'active' })).toBe(0);
    expect(worker1.value('process_cpu_user_seconds_total', { role: 'worker' })).toBeGreaterThan(0);

    const a = delta(api0, api1);
    expect(a('stowage_cache_lookups_total', { role: 'api', result: 'hit' })).toBe(1);
    expect(a('stowage_cache_lookups_total', { role: 'api', result: 'miss' })).toBe(2);
    expect(a('stowage_queue_jobs', { queue: 'cache', state: 'waiting' })).toBe(1);
    expect(api1.value('stowage_queue_jobs', { queue: 'ingest', state: 'waiting' })).toBe(0);
    // The api runs no jobs: its job counters stay where they were.
    expect(
      a('stowage_jobs_total', { queue: 'ingest', type: 'iocs.insert', outcome: 'completed' }),
    ).toBe(0);

    // Retention with a window of 0 days deletes every row just inserted.
    const retentionJob = await world.producer.enqueue('retention.cleanup', {
      targets: ['hot'],
      hot_days: 0,
    });
    await eventually(
      async () =>
        (await world.queues.get('maintenance').getJobState(retentionJob.id)) === 'completed'
          ? true
          : undefined,
      20_000,
      'retention.cleanup completed',
    );
    const worker2 = await scrape(worker.metricsUrl);
    const retention = { role: 'worker', queue: 'maintenance', type: 'retention.cleanup' };
    expect(delta(worker1, worker2)('stowage_rows_deleted_total', retention)).toBe(10);
    expect(
      delta(worker1, worker2)('stowage_jobs_total', { ...retention, outcome: 'completed' }),
    ).toBe(1);

    const health = await fetch(`${worker.metricsUrl}/health`);
    expect(await health.json()).toEqual({ status: 'healthy' });
  });

  it('a job that fails once then succeeds counts one retry; one refused for good counts a failure', async () => {
    const world = new TestWorld();
    cleanup.push(() => world.close());
    const metrics: Metrics = createMetrics({ role: 'worker' });
    const counted = new QueueSet(world.deps.redis, world.config.QUEUE_PREFIX, ['ingest']);
    cleanup.push(() => counted.close());
    metrics.watchQueues(counted.all());
    const server: MetricsServer = await startMetricsServer({
      metrics,
      port: 0,
      host: '127.0.0.1',
      log: silent,
    });
    cleanup.push(() => server.close());
    const before = await scrape(server.url);

    const host = new WorkerHost({
      connect: (name) => world.deps.connectRedis(name),
      prefix: world.config.QUEUE_PREFIX,
      queues: ['ingest'],
      registry: world.registry,
      handlers: testHandlers(world.deps.redis, world.sink),
      log: silent,
      metrics,
    });
    host.start();
    await host.ready();
    cleanup.push(() => host.stop(500));

    const flaky = await world.producer.enqueue('test.fail', {
      mode: 'transient',
      succeedOnAttempt: 2,
    });
    const refused = await world.producer.enqueue('test.fail', { mode: 'permanent' });
    const ingest = world.queues.get('ingest');
    await eventually(async () => {
      const [a, b] = await Promise.all([
        ingest.getJobState(flaky.id),
        ingest.getJobState(refused.id),
      ]);
      return a === 'completed' && b === 'failed' ? true : undefined;
    }, 15_000);

    const after = await scrape(server.url);
    const d = delta(before, after);
    const fail = { queue: 'ingest', type: 'test.fail' };
    expect(d('stowage_jobs_total', { ...fail, outcome: 'retried' })).toBe(1);
    expect(d('stowage_jobs_total', { ...fail, outcome: 'completed' })).toBe(1);
    expect(d('stowage_jobs_total', { ...fail, outcome: 'failed' })).toBe(1);
    expect(d('stowage_job_retries_total', fail)).toBe(1);
    expect(d('stowage_job_duration_seconds_count', fail)).toBe(3);
    expect(d('stowage_queue_jobs', { queue: 'ingest', state: 'failed' })).toBe(1);
  });
});
