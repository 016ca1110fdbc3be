// REDIS_MEMORY_CEILING: against a throwaway noeviction redis-server with a small maxmemory
// (started here, on a free port; the shared Redis is never touched), a flood of ingest
// requests is refused 503 with Retry-After once used_memory passes the ceiling, so Redis
// never reaches maxmemory and no enqueue fails with an OOM.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/cli-process.js';
import { StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';

const MAXMEMORY = 32 * 1024 * 1024;
const HOUR = 3_600_000;

const info = async (redis: Redis, field: string) =>
  Number(new RegExp(`^${field}:(\\d+)`, 'm').exec(await redis.info('memory'))?.[1] ?? NaN);

describe('the Redis memory ceiling', () => {
  let server: ChildProcess | undefined;
  let dir: string;
  let admin: Redis;
  let world: StowageWorld;
  let base: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stowage-ceiling-'));
    const port = await freePort();
    server = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--maxmemory',
        String(MAXMEMORY),
        '--maxmemory-policy',
        'noeviction',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
      ],
      { stdio: 'ignore' },
    );
    admin = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
    // Refused until redis-server listens: the ping below says when it does.
    admin.on('error', () => undefined);
    await eventually(
      async () => ((await admin.ping().catch(() => '')) === 'PONG' ? true : undefined),
      20_000,
      'redis-server up',
    );
    const url = `redis://127.0.0.1:${port}`;
    world = new StowageWorld({
      REDIS_URL: url,
      CACHE_REDIS_URL: `${url}/1`,
      REDIS_MEMORY_CEILING: '80%',
    });
    await world.initStores();
    base = await world.startApi();
  }, 120_000);
  afterAll(async () => {
    await world?.close();
    await admin?.quit().catch(() => undefined);
    server?.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses enqueues 503 with Retry-After before maxmemory, and none fails with an OOM', async () => {
    // What already fills the queue Redis (a backlog): up to 1.5 MiB below the ceiling.
    const ceiling = Math.floor(MAXMEMORY * 0.8);
    // In pieces: one huge SET would count its own query buffer against maxmemory.
    const target = ceiling - 1_536 * 1024;
    for (let i = 0; (await info(admin, 'used_memory')) < target - 256 * 1024; i++) {
      await admin.set(`ballast:${i}`, Buffer.alloc(128 * 1024, 'b'));
    }
    expect(await info(admin, 'used_memory')).toBeLessThan(ceiling);

    const statuses = new Map<number, number>();
    const refusals: { status: number; retryAfter: string | null; code: string }[] = [];
    const failures: string[] = [];
    let seq = 0;
    const flood = async () => {
      let refused = 0;
      for (let i = 0; i < 2_000 && refused < 5; i++) {
        const n = seq++;
        const now = Date.now();
        const res = await fetch(`${base}/v1/ingest/iocs`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${TEST_KEYS.ingest}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify({
            source_id: 'flood',
            iocs: Array.from({ length: 20 }, (_, j) => ({
              type: 'domain',
              value: `flood-${n}-${j}.example.com`,
              threat_type: 'c2',
              confidence: 0.5,
              source: 'flood',
              first_seen: new Date(now - 2 * HOUR).toISOString(),
              last_seen: new Date(now - HOUR).toISOString(),
            })),
          }),
        });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const text = await res.text();
        if (res.status === 202) continue;
        if (res.status === 503 || res.status === 429) {
          refused++;
          refusals.push({
            status: res.status,
            retryAfter: res.headers.get('retry-after'),
            code: (JSON.parse(text) as { code: string }).code,
          });
        } else failures.push(`${res.status} ${text.slice(0, 300)}`);
      }
    };
    await Promise.all([flood(), flood(), flood(), flood()]);

    const summary = JSON.stringify(Object.fromEntries(statuses));
    expect(failures, summary).toEqual([]);
    expect(statuses.get(202) ?? 0, summary).toBeGreaterThan(0);
    expect(refusals.length, summary).toBeGreaterThanOrEqual(20);
    for (const refusal of refusals) {
      expect(refusal.status).toBe(503);
      expect(refusal.code).toBe('redis_memory_ceiling');
      expect(Number(refusal.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    // Redis never got to maxmemory: its peak stayed below, and it still takes writes.
    const peak = await info(admin, 'used_memory_peak');
    expect(peak).toBeLessThan(MAXMEMORY);
    await admin.set('still-writable', '1');

    // Once the backlog drains, enqueueing works again.
    const ballast = await admin.keys('ballast:*');
    await admin.del(...ballast);
    const again = await eventually(
      async () => {
        const res = await fetch(`${base}/v1/jobs/cache.promote`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${TEST_KEYS.admin}`,
            'content-type': 'application/json',
          },
          body: '{}',
        });
        await res.arrayBuffer();
        return res.status === 202 ? res.status : undefined;
      },
      20_000,
      'enqueueing again under the ceiling',
    );
    expect(again).toBe(202);
  });
});
