import { spawn } from 'node:child_process';
import { FlowProducer, Job } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoredIoc } from '../../src/domain/ioc.js';
import { StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';

const HOUR = 3_600_000;
const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();

/** A collector batch: n distinct domains, confidence alternating hot (0.9) and cold (0.5). */
function batch(n: number, source = 'otx', offset = 0) {
  return Array.from({ length: n }, (_, i) => ({
    type: 'domain' as const,
    value: `host-${offset + i}.example.com`,
    threat_type: i % 3 === 0 ? 'c2' : 'phishing',
    confidence: i % 2 === 0 ? 0.9 : 0.5,
    source,
    first_seen: iso(5 * HOUR),
    last_seen: iso(HOUR),
    tags: [`t${i % 4}`],
  }));
}

const dump = async (world: StowageWorld): Promise<StoredIoc[]> => {
  const rows = await world.deps.hotStore.findHot({
    minConfidence: 0,
    since: new Date(0),
    limit: 1_000_000,
  });
  return rows.sort((a, b) => a.value.localeCompare(b.value));
};

describe.each(['postgres', 'clickhouse'] as const)('ingest on %s', (hotStore) => {
  let world: StowageWorld;
  let base: string;
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TEST_KEYS.ingest}`,
        'content-type': 'application/json',
        ...headers,
      },
      body: JSON.stringify(body),
    });
  const get = (path: string) =>
    fetch(`${base}${path}`, { headers: { authorization: `Bearer ${TEST_KEYS.read}` } });
  const flowDone = (id: string) =>
    eventually(
      async () => {
        const job = await Job.fromId(world.queues.get('ingest'), id);
        const state = await job?.getState();
        return state === 'completed' || state === 'failed' ? state : undefined;
      },
      60_000,
      `flow ${id}`,
    );

  beforeEach(async () => {
    world = new StowageWorld({
      HOT_STORE: hotStore,
      INGEST_CHUNK_SIZE: '50',
      INGEST_MAX_IOCS: '500',
    });
    await world.initStores();
    base = await world.startApi();
  });
  afterEach(async () => {
    await world.close();
  });

  it('an ingest flow upserts every chunk, then advances the watermark', async () => {
    await world.startWorker(['ingest']);
    const res = await post('/v1/ingest/iocs', {
      source_id: 'otx',
      iocs: batch(120),
      watermark: { timestamp: '2026-01-01T12:30:00Z' },
    });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { id: string; chunks: number; iocs: number };
    expect(body).toMatchObject({ chunks: 3, iocs: 120 });
    expect(await flowDone(body.id)).toBe('completed');
    expect(await world.deps.hotStore.count()).toBe(120);
    const wm = await get('/api/v1/watermarks/otx');
    expect(await wm.json()).toMatchObject({
      source_id: 'otx',
      last_successful_timestamp: '2026-01-01T12:30:00Z',
      status: 'success',
      records_collected: 120,
    });
    const status = (await (await get(`/v1/jobs/${body.id}`)).json()) as {
      state: string;
      children: object;
    };
    expect(status.state).toBe('completed');
    expect(status.children).toMatchObject({ processed: 3 });
  });

  it('replaying a batch leaves exactly the rows of one clean run', async () => {
    await world.startWorker(['ingest']);
    const request = {
      source_id: 'otx',
      iocs: batch(80),
      watermark: { timestamp: '2026-01-01T00:00:00Z' },
    };
    const first = (await (await post('/v1/ingest/iocs', request)).json()) as { id: string };
    await flowDone(first.id);
    const clean = await dump(world);
    const again = (await (await post('/v1/ingest/iocs', request)).json()) as {
      id: string;
      replayed: boolean;
    };
    expect(again).toMatchObject({ id: first.id, replayed: true });
    // The same batch without a watermark, and as an explicit new job, changes nothing either.
    const loose = await world.producer.enqueue(
      'iocs.insert',
      { iocs: request.iocs.slice(0, 50) },
      { idempotencyKey: 'again' },
    );
    await eventually(async () =>
      (await Job.fromId(world.queues.get('ingest'), loose.id))?.finishedOn ? true : undefined,
    );
    expect(await dump(world)).toEqual(clean);
    expect(clean).toHaveLength(80);
  });

  it('sightings from two sources merge: min first_seen, max last_seen, union of sources and tags', async () => {
    await world.startWorker(['ingest']);
    const a = {
      ...batch(1, 'otx')[0]!,
      confidence: 0.6,
      first_seen: iso(10 * HOUR),
      last_seen: iso(2 * HOUR),
      tags: ['a'],
    };
    const b = {
      ...batch(1, 'abuse_ch')[0]!,
      confidence: 0.8,
      threat_type: 'botnet',
      first_seen: iso(4 * HOUR),
      last_seen: iso(HOUR),
      tags: ['b'],
    };
    for (const ioc of [b, a]) {
      const r = (await (
        await post('/v1/ingest/iocs', {
          source_id: ioc.source,
          iocs: [ioc],
          watermark: { timestamp: ioc.last_seen },
        })
      ).json()) as { id: string };
      expect(await flowDone(r.id)).toBe('completed');
    }
    const row = await world.deps.hotStore.get('domain', a.value);
    expect(row).toMatchObject({
      sources: ['abuse_ch', 'otx'],
      tags: ['a', 'b'],
      confidence: 0.8,
      threat_type: 'botnet',
      first_seen: new Date(a.first_seen),
      last_seen: new Date(b.last_seen),
    });
  });

  it('a hot IOC is a cache hit right after its insert; a cold one is found through the fallback', async () => {
    await world.startWorker(['ingest']);
    const [hot, cold] = batch(2);
    const r = (await (
      await post('/v1/ingest/iocs', {
        source_id: 'otx',
        iocs: [hot, cold],
        watermark: { timestamp: iso(0) },
      })
    ).json()) as { id: string };
    await flowDone(r.id);
    const hit = (await (await get(`/v1/iocs/domain/${hot!.value.toUpperCase()}`)).json()) as {
      cached: boolean;
      ioc: { confidence: number };
    };
    expect(hit).toMatchObject({ cached: true, ioc: { confidence: 0.9 } });
    const ttl = await world.deps.iocCache.ttl('domain', hot!.value);
    expect(ttl).toBeGreaterThan(86_000);
    expect(ttl).toBeLessThanOrEqual(86_400);
    const miss = (await (await get(`/v1/iocs/domain/${cold!.value}`)).json()) as {
      cached: boolean;
      ioc: { confidence: number };
    };
    expect(miss).toMatchObject({ cached: false, ioc: { confidence: 0.5 } });
    expect(await world.deps.iocCache.ttl('domain', cold!.value)).toBe(-2);
    expect((await get('/v1/iocs/domain/nowhere.example.org')).status).toBe(404);
    const stats = (await (await get('/v1/cache/stats')).json()) as Record<string, number>;
    // hit_rate is seed 000's percent; the fraction it was before is hit_ratio.
    expect(stats).toEqual({
      hits: 1,
      misses: 2,
      hit_rate: 100 / 3,
      hit_ratio: 1 / 3,
      keys: 1,
      ioc_keys: 1,
      total_keys: expect.any(Number),
      used_memory: expect.stringMatching(/^\d+(\.\d+)?[BKMGT]?$/),
      used_memory_bytes: expect.any(Number),
      connected_clients: expect.any(Number),
    });
    // Invalidation drops the key; the next look-up falls back to the store.
    const del = await fetch(`${base}/v1/cache/iocs/domain/${hot!.value}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${TEST_KEYS.ingest}` },
    });
    expect(await del.json()).toMatchObject({ invalidated: true });
    expect(
      ((await (await get(`/v1/iocs/domain/${hot!.value}`)).json()) as { cached: boolean }).cached,
    ).toBe(false);
  });

  it('cache.promote warms the cache with the hot IOCs the store holds', async () => {
    await world.deps.hotStore.upsert(
      batch(10).map((i) => ({
        ...i,
        type: 'domain' as const,
        sources: [i.source],
        first_seen: new Date(i.first_seen),
        last_seen: new Date(i.last_seen),
      })),
    );
    await world.startWorker(['cache']);
    const job = await world.producer.enqueue('cache.promote', {});
    const done = await eventually(async () => {
      const j = await Job.fromId(world.queues.get('cache'), job.id);
      return j?.finishedOn ? j : undefined;
    });
    expect(done.returnvalue).toMatchObject({ promoted: 5 });
    expect((await world.deps.iocCache.stats()).keys).toBe(5);
  });

  it('a flow whose insert fails permanently leaves the watermark where it was', async () => {
    await world.startWorker(['ingest']);
    const ok = (await (
      await post('/v1/ingest/iocs', {
        source_id: 'feed',
        iocs: batch(3),
        watermark: { timestamp: '2026-02-01T00:00:00Z' },
      })
    ).json()) as { id: string };
    await flowDone(ok.id);
    // An insert whose payload no longer validates (say, from an older producer) fails for good.
    const flows = new FlowProducer({
      connection: world.deps.redis,
      prefix: world.config.QUEUE_PREFIX,
    });
    const tree = await flows.add({
      name: 'watermark.commit',
      queueName: 'ingest',
      data: { source_id: 'feed', timestamp: '2026-03-01T00:00:00Z', status: 'success' },
      opts: { jobId: 'watermark.commit.broken' },
      children: [
        {
          name: 'iocs.insert',
          queueName: 'ingest',
          data: { iocs: batch(2, 'feed', 500) },
          opts: { jobId: 'iocs.insert.good' },
        },
        {
          name: 'iocs.insert',
          queueName: 'ingest',
          data: { iocs: [{ type: 'domain', value: 'x' }] },
          opts: { jobId: 'iocs.insert.bad', failParentOnFailure: true, attempts: 5 },
        },
      ],
    });
    await flows.close();
    expect(await flowDone(tree.job.id!)).toBe('failed');
    const bad = await Job.fromId(world.queues.get('ingest'), 'iocs.insert.bad');
    expect(bad!.attemptsMade).toBe(1);
    const wm = (await (await get('/api/v1/watermarks/feed')).json()) as {
      last_successful_timestamp: string;
    };
    expect(wm.last_successful_timestamp).toBe('2026-02-01T00:00:00Z');
  });

  it('bad input is a 400 naming the field, and nothing is written', async () => {
    const good = batch(1)[0]!;
    const cases: [unknown, string][] = [
      [{ source_id: 'otx', iocs: [{ ...good, type: 'hostname' }] }, 'iocs.0.type'],
      [
        { source_id: 'otx', iocs: [good, { ...good, type: 'ipv4', value: '999.1.1.1' }] },
        'iocs.1.value',
      ],
      [{ source_id: 'otx', iocs: [{ ...good, type: 'sha256', value: 'abc' }] }, 'iocs.0.value'],
      [{ source_id: 'otx', iocs: [{ ...good, confidence: 1.5 }] }, 'iocs.0.confidence'],
      [{ source_id: 'otx', iocs: [{ ...good, last_seen: iso(10 * HOUR) }] }, 'iocs.0.last_seen'],
      [{ source_id: 'otx', iocs: batch(501) }, 'iocs'],
      [
        { source_id: 'otx', iocs: [{ ...good, value: "evil.com'); DROP TABLE iocs; --" }] },
        'iocs.0.value',
      ],
      [{ source_id: "otx'--", iocs: [good] }, 'source_id'],
      [{ source_id: 'otx', iocs: [{ ...good, tags: ["x' OR 1=1"] }] }, 'iocs.0.tags.0'],
      [
        { source_id: 'otx', iocs: [good], watermark: { timestamp: 'yesterday' } },
        'watermark.timestamp',
      ],
    ];
    for (const [body, path] of cases) {
      const res = await post('/v1/ingest/iocs', body);
      expect(res.status, path).toBe(400);
      const problem = (await res.json()) as { errors: { path: string }[] };
      expect(
        problem.errors.map((e) => e.path),
        path,
      ).toContain(path);
    }
    expect(await world.queues.get('ingest').count()).toBe(0);
    expect(await world.deps.hotStore.count()).toBe(0);
  });

  it('a worker killed with SIGKILL mid-flow still leaves exactly the rows of a clean run', async () => {
    const env = {
      ...process.env,
      QUEUE_PREFIX: world.config.QUEUE_PREFIX,
      DATABASE_SCHEMA: world.config.DATABASE_SCHEMA,
      CLICKHOUSE_DATABASE: world.config.CLICKHOUSE_DATABASE,
      HOT_STORE: hotStore,
      WORKER_LOCK_MS: '2000',
      WORKER_CONCURRENCY: 'ingest=2',
      LOG_LEVEL: 'warn',
    };
    const worker = () =>
      spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'worker', '--queues', 'ingest'], {
        env,
        stdio: 'ignore',
      });
    const iocs = batch(500);
    const first = worker();
    const r = (await (
      await post('/v1/ingest/iocs', {
        source_id: 'otx',
        iocs,
        watermark: { timestamp: '2026-04-01T00:00:00Z' },
      })
    ).json()) as { id: string };
    // Kill as soon as some, but not all, chunks are done.
    const atKill = await eventually(
      async () => {
        const n = await world.deps.hotStore.count();
        return n > 0 ? n : undefined;
      },
      60_000,
      'first rows',
    );
    first.kill('SIGKILL');
    expect(atKill, 'the kill landed mid-flow').toBeLessThan(500);
    const second = worker();
    try {
      expect(await flowDone(r.id)).toBe('completed');
    } finally {
      second.kill('SIGTERM');
    }
    const afterCrash = await dump(world);
    // The clean run: the same batch straight into a fresh store of the same backend.
    const clean = new StowageWorld({ HOT_STORE: hotStore });
    try {
      await clean.initStores();
      await clean.deps.hotStore.upsert(
        (await import('../../src/domain/ioc.js')).mergeBatch(
          iocs.map((i) => ({
            ...i,
            type: 'domain' as const,
            first_seen: new Date(i.first_seen),
            last_seen: new Date(i.last_seen),
          })),
        ),
      );
      expect(afterCrash).toEqual(await dump(clean));
    } finally {
      await clean.close();
    }
    expect(afterCrash).toHaveLength(500);
    const wm = (await (await get('/api/v1/watermarks/otx')).json()) as {
      last_successful_timestamp: string;
    };
    expect(wm.last_successful_timestamp).toBe('2026-04-01T00:00:00Z');
  }, 120_000);
});
