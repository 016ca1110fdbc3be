// Job search: GET /v1/jobs over 100,000 jobs of five tenants on two queues in two states,
// answered by `stowage api` from the search index (Redis sorted sets), HTTP included.
import { Redis } from 'ioredis';
import { createJobRegistry } from '../../jobs/registry.js';
import { Producer } from '../../queues/producer.js';
import { QueueSet } from '../../queues/queue-set.js';
import { percentile } from '../lib/measure.js';
import type { Row, Section } from '../lib/report.js';
import { StowageProcess, benchStack } from '../lib/stack.js';
import { dropStores } from './ioc-ingest.js';

export interface JobSearchOptions {
  jobs: number;
  /** Sequential requests per search (after one warm-up). */
  runs: number;
}

const TENANTS = 5;
const SOURCES = 50;
const REQUESTS = 100;
/** Jobs per bulk enqueue: one source and one request each. */
const BULK = 500;
const DAY_MS = 86_400_000;

/**
 * Loads `jobs` jobs through the producer: cache.promote on the cache queue (waiting: no worker
 * runs) and batches.sweep on the maintenance queue (delayed a day), bulk by bulk, each bulk of
 * one tenant, one `source:` and one `request:` tag.
 */
async function load(redis: Redis, prefix: string, jobs: number): Promise<number> {
  const registry = createJobRegistry();
  const queues = new QueueSet(redis, prefix);
  const producer = new Producer(registry, queues, redis);
  const started = performance.now();
  try {
    for (let i = 0, n = 0; i < jobs; i += BULK, n++) {
      const count = Math.min(BULK, jobs - i);
      const tenant = `t${n % TENANTS}`;
      const own = producer.onBehalfOf({ enqueuedBy: `key-${tenant}`, tenant });
      const tags = [`source:s${n % SOURCES}`, `request:r${n % REQUESTS}`];
      if (n % 2 === 0) {
        const payload = registry.get('cache.promote')!.fixture;
        await own.enqueueBulkByName('cache.promote', Array(count).fill(payload), { tags });
      } else {
        await own.enqueueBulkByName('batches.sweep', Array(count).fill({}), {
          tags,
          delayMs: DAY_MS,
        });
      }
    }
  } finally {
    await producer.close();
    await queues.close();
  }
  return (performance.now() - started) / 1_000;
}

async function getJson(base: string, key: string, path: string): Promise<unknown> {
  const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key}` } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as unknown;
}

const fmt = (ms: number) => (ms < 10 ? ms.toFixed(1) : Math.round(ms).toLocaleString('en'));

export async function jobSearch(options: JobSearchOptions): Promise<Section> {
  const stack = benchStack();
  const rows: Row[] = [];
  let loadSeconds: number;
  const redis = new Redis(stack.env.REDIS_URL!, { maxRetriesPerRequest: null });
  try {
    await StowageProcess.init(stack);
    loadSeconds = await load(redis, stack.env.QUEUE_PREFIX!, options.jobs);
    const { proc, base } = await StowageProcess.api(stack);
    try {
      const searches: [string, string][] = [
        ['tenant (1 of 5)', '/v1/jobs?tenant=t1&limit=50'],
        ['tag source: (1 of 50)', '/v1/jobs?tag=source:s7&limit=50'],
        ['tag request: (1 of 100)', '/v1/jobs?tag=request:r9&limit=50'],
        ['tenant + state=delayed', '/v1/jobs?tenant=t2&state=delayed&limit=50'],
        ['type + tenant', '/v1/jobs?type=cache.promote&tenant=t3&limit=50'],
      ];
      for (const [name, path] of searches) {
        const first = (await getJson(base, stack.key, path)) as {
          jobs: unknown[];
          next_cursor: string | null;
        };
        if (first.jobs.length === 0) throw new Error(`${path} matched nothing: the load is wrong`);
        const ms: number[] = [];
        for (let run = 0; run < options.runs; run++) {
          const t = performance.now();
          await getJson(base, stack.key, path);
          ms.push(performance.now() - t);
        }
        const p99 = percentile(ms, 99);
        rows.push({
          figure: `GET /v1/jobs ${name}, p50 / p99`,
          value: `${fmt(percentile(ms, 50))} / ${fmt(p99)} ms`,
          note: `${first.jobs.length} jobs${first.next_cursor ? ', more' : ''}; goal p99 < 100 ms: ${p99 < 100 ? 'met' : '**not met**'}`,
        });
      }
    } finally {
      await proc.stop();
    }
  } finally {
    await redis.quit();
    await dropStores(stack);
  }
  const n = options.jobs.toLocaleString('en');
  return {
    id: 'job-search',
    title: 'Job search (GET /v1/jobs)',
    method: [
      `${n} jobs are enqueued by the producer in bulks of ${BULK}, each bulk for one of`,
      `${TENANTS} tenants with one of ${SOURCES} \`source:\` and ${REQUESTS} \`request:\` tags:`,
      'half `cache.promote` on the cache queue (waiting: no worker runs), half `batches.sweep`',
      `on the maintenance queue delayed a day (loaded in ${loadSeconds.toFixed(1)} s, index`,
      `included). Then \`stowage api\` answers ${options.runs} sequential requests per search`,
      '(after one warm-up) from the bench process, an admin key, pages of 50: p50 / p99 of',
      'their latency, HTTP included. **This machine has 2 cores.**',
    ].join(' '),
    rows,
  };
}
