// IOC look-ups past the hot store, against the real services: archive.lock into a real
// Object Lock bucket (GOVERNANCE, so the test can clean up), retention.cleanup removing
// the rows from the hot store, then GET /v1/iocs/{type}/{value} through the SDK finding them
// in the archive. Both hot stores; each test has its own queues, schema and bucket.
import { afterEach, describe, expect, it } from 'vitest';
import { StowageClient } from '../../src/sdk/client.js';
import type { StoredIoc } from '../../src/domain/ioc.js';
import { toIocView } from '../../src/domain/api/iocs.js';
import { utcDayOf } from '../../src/domain/utc-day.js';
import type { RetentionReport } from '../../jobs/retention-cleanup/report.js';
import type { ArchiveLockResult } from '../../jobs/archive-lock/handler.js';
import type { ArchiveReindexResult } from '../../jobs/archive-reindex/handler.js';
import { ArchiveIndex } from '../../src/stores/postgres/archive-index.js';
import { ArchivedIocReader } from '../../src/stores/s3/archived-ioc-reader.js';
import { randomBucketName, removeBucket } from '../helpers/buckets.js';
import { StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
// Three days ago: archivable (before today) and past a one-day hot window.
const d = Math.floor((Date.now() - 3 * DAY) / DAY) * DAY;
const day = utcDayOf(new Date(d));

function ioc(value: string, lastSeen: number, extra: Partial<StoredIoc> = {}): StoredIoc {
  return {
    type: 'domain',
    value,
    threat_type: 'c2',
    confidence: 0.75,
    sources: ['otx'],
    first_seen: new Date(lastSeen - HOUR),
    last_seen: new Date(lastSeen),
    tags: ['apt'],
    ...extra,
  };
}

async function openWorld(hotStore: 'postgres' | 'clickhouse', archive = true) {
  const bucket = randomBucketName('archive');
  const world = new StowageWorld({
    HOT_STORE: hotStore,
    ARCHIVE_ENABLED: String(archive),
    ARCHIVE_BUCKET: bucket,
    ARCHIVE_LOCK_MODE: 'GOVERNANCE',
    ARCHIVE_RETENTION_YEARS: '1',
    // Two rows a part: the look-up must pick the right part of several.
    ARCHIVE_PART_ROWS: '2',
    RETENTION_BATCH_SIZE: '1000',
  });
  await world.initStores();
  if (archive) await world.deps.wormArchive.ensureBucket();
  await world.startWorker(['archive', 'maintenance']);
  const base = await world.startApi();
  const client = new StowageClient({ baseUrl: base, apiKey: TEST_KEYS.read, retry: false });

  const finish = async (id: string, queue: 'archive' | 'maintenance') => {
    const q = world.queues.get(queue);
    const state = await eventually(
      async () => {
        const st = await q.getJobState(id);
        return st === 'completed' || st === 'failed' ? st : undefined;
      },
      120_000,
      `job ${id}`,
    );
    const job = await q.getJob(id);
    if (state === 'failed') throw new Error(`job failed: ${job?.failedReason}`);
    return job?.returnvalue as unknown;
  };
  return {
    world,
    base,
    client,
    async archive(): Promise<ArchiveLockResult> {
      const { id } = await world.producer.enqueue('archive.lock', {});
      return (await finish(id, 'archive')) as ArchiveLockResult;
    },
    async reindex(): Promise<ArchiveReindexResult> {
      const { id } = await world.producer.enqueue('archive.reindex', {});
      return (await finish(id, 'archive')) as ArchiveReindexResult;
    },
    async retention() {
      const { id } = await world.producer.enqueue('retention.cleanup', {
        dry_run: false,
        hot_days: 1,
        targets: ['hot'],
      });
      return ((await finish(id, 'maintenance')) as RetentionReport).targets.hot!;
    },
    async close() {
      try {
        if (archive) await removeBucket(world.deps.s3, bucket);
      } finally {
        await world.close();
      }
    },
  };
}

describe.each(['postgres', 'clickhouse'] as const)(
  'IOC look-up past the hot store on %s',
  (hotStore) => {
    let env: Awaited<ReturnType<typeof openWorld>> | undefined;
    afterEach(async () => {
      await env?.close();
      env = undefined;
    });

    it('a record archived and then removed by retention.cleanup is still returned, tier archive, with the archived fields; a record changed after archiving returns the hot one', async () => {
      env = await openWorld(hotStore);
      const { world, client } = env;
      const store = world.deps.hotStore;
      const rows = [
        ioc('a.example.com', d + HOUR),
        ioc('b.example.com', d + 2 * HOUR, { sources: ['misp', 'otx'], tags: ['x', 'y'] }),
        ioc('c.example.com', d + 3 * HOUR, { confidence: 0.5, threat_type: 'phishing' }),
        ioc('d.example.com', d + 4 * HOUR),
        ioc('e.example.com', d + 5 * HOUR),
      ];
      await store.upsert(rows);
      const archived = await env.archive();
      expect(archived.days).toMatchObject([{ day, generation: 1, rows: 5, parts: 3 }]);

      // d gains a source after the archive: the hot row differs from the archived one.
      await store.upsert([ioc('d.example.com', d + 4 * HOUR, { sources: ['abuse.ch'] })]);
      const report = await env.retention();
      expect(report).toMatchObject({ rows: 4, kept_changed_since_archive: 1 });
      for (const r of rows.filter((r) => r.value !== 'd.example.com')) {
        expect(await store.get('domain', r.value)).toBeUndefined();
      }

      // Every removed row, whichever part holds it, comes back from the archive as archived.
      for (const r of rows.filter((r) => r.value !== 'd.example.com')) {
        const noCache = await client.lookupIoc('domain', r.value, { useCache: false });
        expect(noCache).toEqual({ cached: false, tier: 'archive', ioc: toIocView(r) });
        // The default path (cache first) ends in the archive too, and is answered alike.
        expect(await client.lookupIoc('domain', r.value)).toEqual(noCache);
      }
      // Archive answers never go into the Redis cache.
      expect(await world.deps.iocCache.lookup('domain', 'c.example.com')).toBeUndefined();

      // Hot wins while present: d as it is now, not as archived.
      const hot = await client.lookupIoc('domain', 'd.example.com', { useCache: false });
      expect(hot).toMatchObject({ cached: false, tier: 'hot' });
      expect(hot?.ioc.sources).toEqual(['abuse.ch', 'otx']);

      // Nowhere at all: 404, as before.
      expect(await client.lookupIoc('domain', 'nowhere.example.com')).toBeUndefined();
    });

    it('archive.reindex indexes a day archived without index rows (or half of them), and look-ups then find its IOCs in the archive', async () => {
      env = await openWorld(hotStore);
      const { world, client } = env;
      const rows = [1, 2, 3, 4, 5].map((n) => ioc(`r${n}.example.com`, d + n * HOUR));
      await world.deps.hotStore.upsert(rows);
      await env.archive();
      // As an archive written before the index existed: no index rows at all.
      const table = `"${world.config.DATABASE_SCHEMA}".archive_index`;
      await world.deps.pg.query(`DELETE FROM ${table}`);
      await env.retention();
      expect(
        await client.lookupIoc('domain', 'r3.example.com', { useCache: false }),
      ).toBeUndefined();

      const first = await env.reindex();
      expect(first).toEqual({ days: [{ day, generation: 1, parts: 3, rows: 5 }], rows: 5 });
      for (const r of rows) {
        expect(await client.lookupIoc('domain', r.value, { useCache: false })).toEqual({
          cached: false,
          tier: 'archive',
          ioc: toIocView(r),
        });
      }
      // Nothing left: a rerun indexes nothing. A day half indexed (a run killed part-way) is
      // found again and completed.
      expect(await env.reindex()).toEqual({ days: [], rows: 0 });
      await world.deps.pg.query(
        `DELETE FROM ${table} WHERE value IN ('r1.example.com', 'r5.example.com')`,
      );
      expect((await env.reindex()).days).toEqual([{ day, generation: 1, parts: 3, rows: 5 }]);
      const { rows: left } = await world.deps.pg.query<{ n: string }>(
        `SELECT count(*) AS n FROM ${table}`,
      );
      expect(Number(left[0]?.n)).toBe(5);
    });

    it('the archive index names a part only once its generation is in the ledger, and the newest day of an indicator', async () => {
      env = await openWorld(hotStore);
      const { world } = env;
      const store = world.deps.hotStore;
      await store.upsert([ioc('moved.example.com', d + HOUR), ioc('stays.example.com', d + HOUR)]);
      await env.archive();
      // moved is seen again a day later; its new day is archived as generation 1.
      await store.upsert([ioc('moved.example.com', d + DAY + HOUR, { tags: ['later'] })]);
      await env.archive();
      const index = new ArchiveIndex(world.deps.pg, { schema: world.config.DATABASE_SCHEMA });
      expect(await index.locate('domain', 'moved.example.com')).toMatchObject({
        day: utcDayOf(new Date(d + DAY)),
        generation: 1,
        part: 1,
      });
      // Rows of a generation the ledger does not hold (a crashed run) are not followed.
      await index.addRows('2020-01-01', 1, 1, [{ type: 'domain', value: 'ghost.example.com' }]);
      expect(await index.locate('domain', 'ghost.example.com')).toBeUndefined();

      await env.retention();
      const reader = new ArchivedIocReader(index, world.deps.s3, { memoTtlMs: 0, memoEntries: 0 });
      const found = await reader.find('domain', 'moved.example.com');
      expect(found?.ioc.tags).toEqual(['apt', 'later']);
      expect(found?.day).toBe(utcDayOf(new Date(d + DAY)));
    });

    it('use_cache=false reads the hot store, neither reading nor writing the cache; a bad value is a 400 naming use_cache', async () => {
      env = await openWorld(hotStore);
      const { world, client, base } = env;
      const now = Date.now();
      const fresh = ioc('fresh.example.com', now - HOUR);
      await world.deps.hotStore.upsert([fresh]);
      // A cached copy that differs from the hot row shows which one answered.
      await world.deps.iocCache.putMany([{ ...fresh, tags: ['cached-copy'] }]);
      const before = await world.deps.iocCache.stats();

      const direct = await client.lookupIoc('domain', 'fresh.example.com', { useCache: false });
      expect(direct).toEqual({ cached: false, tier: 'hot', ioc: toIocView(fresh) });
      expect(await world.deps.iocCache.stats()).toMatchObject({
        hits: before.hits,
        misses: before.misses,
      });
      const viaCache = await client.lookupIoc('domain', 'fresh.example.com');
      expect(viaCache).toMatchObject({ cached: true, tier: 'hot', ioc: { tags: ['cached-copy'] } });

      // Python's requests sends use_cache=False as "False".
      const other = ioc('other.example.com', now - HOUR);
      await world.deps.hotStore.upsert([other]);
      const res = await fetch(`${base}/v1/iocs/domain/other.example.com?use_cache=False`, {
        headers: { authorization: `Bearer ${TEST_KEYS.read}` },
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ cached: false, tier: 'hot', ioc: toIocView(other) });
      expect(await world.deps.iocCache.lookup('domain', 'other.example.com')).toBeUndefined();

      for (const bad of ['maybe', '', 'no']) {
        const r = await fetch(`${base}/v1/iocs/domain/other.example.com?use_cache=${bad}`, {
          headers: { authorization: `Bearer ${TEST_KEYS.read}` },
        });
        expect(r.status).toBe(400);
        const body = (await r.json()) as { errors: { path: string }[] };
        expect(body.errors.map((e) => e.path)).toContain('use_cache');
      }
      const twice = await fetch(
        `${base}/v1/iocs/domain/other.example.com?use_cache=false&use_cache=true`,
        { headers: { authorization: `Bearer ${TEST_KEYS.read}` } },
      );
      expect(twice.status).toBe(400);
    });
  },
);

describe('IOC look-up with the archive off', () => {
  it('answers 404 for an indicator the hot store does not hold, and builds no archive reader', async () => {
    const env = await openWorld('postgres', false);
    try {
      expect(env.world.deps.archivedIocs).toBeUndefined();
      expect(
        await env.client.lookupIoc('domain', 'gone.example.com', { useCache: false }),
      ).toBeUndefined();
    } finally {
      await env.close();
    }
  });
});
