// IOC look-up latency: over HTTP (GET /v1/iocs/{type}/{value}, answered from the Redis
// cache) and in-process (RedisIocCache.lookup), next to a bare Redis GET of the same key.
import { Redis } from 'ioredis';
import type { StoredIoc } from '../../src/domain/ioc.js';
import { RedisIocCache } from '../../src/stores/redis/ioc-cache.js';
import { closedLoop, type LoadResult } from '../lib/load.js';
import { percentile } from '../lib/measure.js';
import type { Row, Section } from '../lib/report.js';
import { StowageProcess, benchStack } from '../lib/stack.js';

export interface CacheLookupOptions {
  keys: number;
  seconds: number;
  concurrency: number;
}

export async function cacheLookup(options: CacheLookupOptions): Promise<Section> {
  const stack = benchStack();
  const redis = new Redis(stack.env.CACHE_REDIS_URL ?? stack.env.REDIS_URL!);
  // The api's cache prefix (src/composition/root.ts): the api reads what this process writes.
  const prefix = `${stack.env.QUEUE_PREFIX!}:cache`;
  const cache = new RedisIocCache(redis, { prefix, ttlSeconds: 3_600 });
  const now = Date.now();
  const iocs: StoredIoc[] = Array.from({ length: options.keys }, (_, i) => ({
    type: 'domain',
    value: `cached-${i}.example.com`,
    threat_type: 'c2',
    confidence: 0.9,
    sources: ['bench'],
    first_seen: new Date(now - 7_200_000),
    last_seen: new Date(now - 3_600_000),
    tags: ['bench'],
  }));
  await cache.putMany(iocs);
  const pick = (i: number) => iocs[(i * 7919) % iocs.length]!;
  const { proc, base } = await StowageProcess.api(stack);
  const results: Record<string, LoadResult> = {};
  const http = async (i: number) => {
    const res = await fetch(`${base}/v1/iocs/domain/${pick(i).value}`, {
      headers: { authorization: `Bearer ${stack.key}` },
    });
    const body = (await res.json()) as { cached?: boolean };
    if (res.status !== 200 || body.cached !== true) throw new Error(`look-up: ${res.status}`);
  };
  try {
    const one = { concurrency: 1, seconds: options.seconds };
    const many = { concurrency: options.concurrency, seconds: options.seconds };
    await closedLoop(http, { concurrency: 4, seconds: 1 }); // warm-up
    results.rawGet = await closedLoop(async (i) => {
      const v = pick(i);
      if ((await redis.get(`${prefix}:ioc:${v.type}:${v.value}`)) === null) throw new Error('miss');
    }, one);
    results.lookup = await closedLoop(async (i) => {
      const v = pick(i);
      if (!(await cache.lookup(v.type, v.value))) throw new Error('miss');
    }, one);
    results.http = await closedLoop(http, one);
    results.httpMany = await closedLoop(http, many);
  } finally {
    await proc.stop();
    const keys = await redis.keys(`${prefix}:*`);
    for (let i = 0; i < keys.length; i += 1_000) await redis.del(...keys.slice(i, i + 1_000));
    redis.disconnect();
  }
  for (const [name, r] of Object.entries(results))
    if (r.errors > 0) throw new Error(`${name}: ${r.errors} errors, first: ${r.firstError}`);
  const p = (r: LoadResult) =>
    `${percentile(r.latencies, 50).toFixed(3)} / ${percentile(r.latencies, 99).toFixed(3)} ms`;
  const rows: Row[] = [
    {
      figure: 'in-process `RedisIocCache.lookup`, p50 / p99',
      value: p(results.lookup),
      baseline: `${p(results.rawGet)} (bare GET)`,
    },
    {
      figure: 'HTTP `GET /v1/iocs/…`, one client, p50 / p99',
      value: p(results.http),
      baseline: `${p(results.rawGet)} (bare GET)`,
    },
    {
      figure: `HTTP, ${options.concurrency} clients, p50 / p99`,
      value: p(results.httpMany),
      note: `${Math.round(results.httpMany.rate).toLocaleString('en')} look-ups/s`,
    },
  ];
  return {
    id: 'cache-lookup',
    title: 'Cache look-up',
    method: [
      `${options.keys.toLocaleString('en')} hot domains are written to the cache with \`RedisIocCache.putMany\`,`,
      'under the prefix the api reads. Each figure is a closed loop of',
      `${options.seconds} s over those keys: a bare \`GET\` of the cached key from the bench process`,
      '(the floor), `RedisIocCache.lookup` in-process (GET, parse, hit/miss counter), and',
      '`GET /v1/iocs/domain/{value}` against `stowage api` as its own process (auth, routing,',
      `the same look-up, JSON answer), from one client and from ${options.concurrency}.`,
    ].join(' '),
    rows,
  };
}
