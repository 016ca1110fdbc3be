import { describe, expect, it } from 'vitest';
import { QUEUE_STATES, createMetrics, type CountableQueue } from '../../src/metrics.js';

/** The value of one series in a registry's text output, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const wanted = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (wanted) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

const queue = (name: string, counts: () => Promise<Record<string, number>>): CountableQueue => ({
  name,
  getJobCounts: () => counts(),
});

describe('metrics', () => {
  it('counts job outcomes and durations by queue and type, with the role on every series', async () => {
    const m = createMetrics({ role: 'worker', defaultMetrics: false });
    m.jobEnded('ingest', 'iocs.insert', 'completed', 0.02);
    m.jobEnded('ingest', 'iocs.insert', 'completed', 3);
    m.jobEnded('ingest', 'iocs.insert', 'retried', 0.5);
    m.jobRetry('ingest', 'iocs.insert');
    const text = await m.render();
    const labels = { role: 'worker', queue: 'ingest', type: 'iocs.insert' };
    expect(sample(text, 'stowage_jobs_total', { ...labels, outcome: 'completed' })).toBe(2);
    expect(sample(text, 'stowage_jobs_total', { ...labels, outcome: 'retried' })).toBe(1);
    expect(sample(text, 'stowage_jobs_total', { ...labels, outcome: 'failed' })).toBeUndefined();
    expect(sample(text, 'stowage_job_duration_seconds_count', labels)).toBe(3);
    expect(sample(text, 'stowage_job_duration_seconds_bucket', { ...labels, le: '0.025' })).toBe(1);
    expect(sample(text, 'stowage_job_duration_seconds_sum', labels)).toBeCloseTo(3.52);
    expect(sample(text, 'stowage_job_retries_total', labels)).toBe(1);
  });

  it('counts what handlers report, ignoring zero, negative and non-finite amounts', async () => {
    const m = createMetrics({ role: 'worker', defaultMetrics: false });
    const job = m.forJob('archive', 'archive.lock');
    job.bytesUploaded(1000);
    job.bytesUploaded(24);
    job.bytesUploaded(-5);
    job.bytesUploaded(Number.NaN);
    m.forJob('ingest', 'iocs.insert').rowsInserted(7);
    m.forJob('maintenance', 'retention.cleanup').rowsDeleted(0);
    const text = await m.render();
    expect(sample(text, 'stowage_bytes_uploaded_total', { type: 'archive.lock' })).toBe(1024);
    expect(sample(text, 'stowage_rows_inserted_total', { queue: 'ingest' })).toBe(7);
    expect(sample(text, 'stowage_rows_deleted_total', {})).toBeUndefined();
  });

  it('exposes cache hits and misses from zero', async () => {
    const m = createMetrics({ role: 'api', defaultMetrics: false });
    expect(sample(await m.render(), 'stowage_cache_lookups_total', { result: 'hit' })).toBe(0);
    m.cache.lookup('hit');
    m.cache.lookup('miss');
    m.cache.lookup('miss');
    const text = await m.render();
    expect(sample(text, 'stowage_cache_lookups_total', { result: 'hit' })).toBe(1);
    expect(sample(text, 'stowage_cache_lookups_total', { result: 'miss' })).toBe(2);
  });

  it('reads queue depths at scrape time, each watched queue once however often it is watched', async () => {
    const m = createMetrics({ role: 'api', defaultMetrics: false });
    let waiting = 3;
    let reads = 0;
    const ingest = queue('ingest', () => {
      reads++;
      return Promise.resolve({ waiting, active: 1, 'waiting-children': 2 });
    });
    m.watchQueues([ingest]);
    m.watchQueues([ingest]);
    let text = await m.render();
    expect(reads).toBe(1);
    for (const state of QUEUE_STATES) {
      const want = { waiting: 3, active: 1, 'waiting-children': 2 }[state as string] ?? 0;
      expect(sample(text, 'stowage_queue_jobs', { queue: 'ingest', state }), state).toBe(want);
    }
    waiting = 10;
    text = await m.render();
    expect(sample(text, 'stowage_queue_jobs', { queue: 'ingest', state: 'waiting' })).toBe(10);
  });

  it('answers a scrape within the deadline when a queue does not, leaving that queue out', async () => {
    const m = createMetrics({ role: 'worker', defaultMetrics: false, depthTimeoutMs: 100 });
    m.watchQueues([
      queue('ingest', () => Promise.resolve({ waiting: 4 })),
      queue('cache', () => new Promise(() => undefined)),
      queue('archive', () => Promise.reject(new Error('connection refused'))),
    ]);
    const started = Date.now();
    const text = await m.render();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(sample(text, 'stowage_queue_jobs', { queue: 'ingest', state: 'waiting' })).toBe(4);
    expect(sample(text, 'stowage_queue_jobs', { queue: 'cache' })).toBeUndefined();
    expect(sample(text, 'stowage_queue_depth_errors_total', { queue: 'cache' })).toBe(1);
    expect(sample(text, 'stowage_queue_depth_errors_total', { queue: 'archive' })).toBe(1);
  });

  it('adds the default Node metrics, labelled with the role, to each fresh registry', async () => {
    const a = createMetrics({ role: 'api' });
    const b = createMetrics({ role: 'worker' });
    a.jobRetry('ingest', 'x');
    expect(
      sample(await a.render(), 'process_cpu_user_seconds_total', { role: 'api' }),
    ).toBeGreaterThanOrEqual(0);
    const textB = await b.render();
    expect(sample(textB, 'nodejs_heap_size_used_bytes', { role: 'worker' })).toBeGreaterThan(0);
    expect(sample(textB, 'stowage_job_retries_total', {})).toBeUndefined();
  });
});
