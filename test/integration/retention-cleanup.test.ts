// retention.cleanup through real BullMQ against the local PostgreSQL, ClickHouse and Ceph
// RGW (Object Lock): the hot part on both backends, the sample part on real buckets.
import {
  GetObjectCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { gunzipSync } from 'node:zlib';
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { HotBackendName } from '../../src/config.js';
import type { InputOf } from '../../jobs/job-definition.js';
import { JobRegistry } from '../../jobs/job-registry.js';
import { archiveLockJob } from '../../jobs/archive-lock/definition.js';
import { archiveLockSettings, retentionSettings } from '../../src/composition/settings.js';
import {
  createArchiveLockHandler,
  type ArchiveLockResult,
} from '../../jobs/archive-lock/handler.js';
import { retentionCleanupJob } from '../../jobs/retention-cleanup/definition.js';
import { createRetentionCleanupHandler } from '../../jobs/retention-cleanup/handler.js';
import type { HotRetentionReport, RetentionReport } from '../../jobs/retention-cleanup/report.js';
import { archiveManifestKey, archivePartKey } from '../../src/domain/archive.js';
import type { StoredIoc } from '../../src/domain/ioc.js';
import { utcDayOf } from '../../src/domain/utc-day.js';
import { WormArchive } from '../../src/stores/s3/worm-archive.js';
import { createHotBackend } from '../../src/stores/hot/create-hot-backend.js';
import { SampleRetention } from '../../src/stores/s3/sample-retention.js';
import { ArchiveLedger } from '../../src/stores/postgres/archive-ledger.js';
import type { HotStore } from '../../src/stores/hot/hot-store.js';
import { createBucket, randomBucketName, removeBucket } from '../helpers/buckets.js';
import { World, eventually } from '../helpers/world.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const dayStart = (ms: number) => Math.floor(ms / DAY) * DAY;
const dayOf = (ms: number) => utcDayOf(new Date(ms));

/**
 * The real archive ledger, recording a day's next generation as `archive.lock` would: with
 * the hot store's version high-water mark and the rows the day holds at that moment (no
 * objects are written; retention reads only the ledger).
 */
class TestArchiveLedger {
  readonly ledger: ArchiveLedger;

  constructor(
    pool: pg.Pool,
    schema: string,
    private readonly hotStore: () => HotStore,
  ) {
    this.ledger = new ArchiveLedger(pool, { schema });
  }

  init(): Promise<void> {
    return this.ledger.init();
  }

  async record(...days: string[]): Promise<void> {
    const counts = new Map(
      (await this.hotStore().windowDays(new Date())).map((d) => [d.day, d.rows]),
    );
    const highWater = await this.hotStore().versionHighWater();
    for (const day of days) {
      const start = new Date(`${day}T00:00:00Z`);
      await this.ledger.record({
        day,
        generation: ((await this.ledger.get(day))?.generation ?? 0) + 1,
        high_water: highWater,
        window_start: start,
        window_end: new Date(start.getTime() + 86_400_000),
        backend: this.hotStore().backend,
        bucket: 'test-archive',
        rows: counts.get(day) ?? 0,
        parts: 0,
        bytes: 0,
        manifest_key: `test/${day}/manifest.json`,
        manifest_sha256: '0'.repeat(64),
        manifest_version_id: null,
        lock_mode: 'GOVERNANCE',
        retain_until: start,
        job_id: null,
      });
    }
  }
}

const JOBS = [retentionCleanupJob] as const;

/** A world running retention.cleanup only, with a test ledger in its own schema. */
class RetentionWorld extends World<typeof JOBS> {
  readonly ledger: TestArchiveLedger;
  private hotStoreCreated = false;

  constructor(overrides: Record<string, string>) {
    super(
      new JobRegistry(JOBS),
      (w) => ({
        'retention.cleanup': createRetentionCleanupHandler({
          settings: retentionSettings(w.config),
          get hotRetention() {
            return createHotBackend(w.config, w.deps).retention;
          },
          // Stateless over the world's schema: the same table the test records days in.
          get archiveLedger() {
            return new ArchiveLedger(w.deps.pg, { schema: w.config.DATABASE_SCHEMA });
          },
          get sampleRetention() {
            return new SampleRetention(w.deps.s3, w.config.ARTIFACT_BUCKET_SAMPLES);
          },
          // Every run stores its plan first (the real run executes it at once).
          get plans() {
            return w.deps.maintenancePlans;
          },
        }),
      }),
      overrides,
    );
    this.ledger = new TestArchiveLedger(
      this.deps.pg,
      this.config.DATABASE_SCHEMA,
      () => this.deps.hotStore,
    );
  }

  /**
   * Creates only what retention reads: the hot store and the ledger stand-in, in this
   * world's own schema and database (World.initStores would set up every store).
   */
  async initHotStore(): Promise<void> {
    this.hotStoreCreated = true;
    await this.deps.hotStore.init();
    await this.ledger.init();
    await this.deps.maintenancePlans.init();
  }

  /** Creates only the plan tables every run writes its plan to (sample-only tests). */
  async initPlans(): Promise<void> {
    this.hotStoreCreated = true;
    await this.deps.maintenancePlans.init();
  }

  override async close(): Promise<void> {
    if (this.hotStoreCreated) {
      await this.deps.pg.query(`DROP SCHEMA IF EXISTS "${this.config.DATABASE_SCHEMA}" CASCADE`);
      if (this.config.HOT_STORE === 'clickhouse') {
        await this.deps.clickhouse.command({
          query: `DROP DATABASE IF EXISTS ${this.config.CLICKHOUSE_DATABASE}`,
        });
      }
    }
    await super.close();
  }

  /** Enqueues one run, waits for it, and returns its report (throws with the reason on failure). */
  async run(payload: InputOf<typeof retentionCleanupJob>) {
    const queue = this.queues.get('maintenance');
    const { id } = await this.producer.enqueue('retention.cleanup', payload);
    const state = await eventually(
      async () => {
        const s = await queue.getJobState(id);
        return s === 'completed' || s === 'failed' ? s : undefined;
      },
      60_000,
      `retention job ${id}`,
    );
    const job = await queue.getJob(id);
    if (state === 'failed') throw new Error(`retention job failed: ${job?.failedReason}`);
    return job?.returnvalue as RetentionReport;
  }
}

function ioc(value: string, lastSeen: number, firstSeen = lastSeen - HOUR): StoredIoc {
  return {
    type: 'domain',
    value,
    threat_type: 'c2',
    confidence: 0.8,
    sources: ['otx'],
    first_seen: new Date(firstSeen),
    last_seen: new Date(lastSeen),
    tags: [],
  };
}

/** n indicators last seen on one UTC day, a second apart, from `start` on. */
const onDay = (prefix: string, start: number, n: number) =>
  Array.from({ length: n }, (_, i) => ioc(`${prefix}-${i}.example.com`, start + i * 1_000));

describe.each(['postgres', 'clickhouse'] as const)('hot-store retention on %s', (hotStore) => {
  let world: RetentionWorld | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  const now = Date.now();
  // 100 days ago: past the 90-day window, archived. 101 days ago: past it, not archived.
  const archivedStart = dayStart(now - 100 * DAY) + HOUR;
  const unarchivedStart = dayStart(now - 101 * DAY) + 2 * HOUR;
  const recentStart = now - 10 * DAY;

  async function open(overrides: Record<string, string>) {
    world = new RetentionWorld({ HOT_STORE: hotStore, RETENTION_BATCH_SIZE: '1000', ...overrides });
    await world.initHotStore();
    await world.startWorker(['maintenance']);
    return world;
  }

  it('deletes archived days in batches, keeps unarchived days (reported blocked) and recent rows; the dry run reports exactly what the run deletes', async () => {
    const w = await open({ ARCHIVE_ENABLED: 'true' });
    await w.deps.hotStore.upsert([
      ...onDay('archived', archivedStart, 2_500),
      ...onDay('unarchived', unarchivedStart, 5),
      ...onDay('recent', recentStart, 10),
    ]);
    await w.ledger.record(dayOf(archivedStart));
    expect(await w.deps.hotStore.count()).toBe(2_515);

    const dry = (await w.run({ dry_run: true, targets: ['hot'] })).targets.hot!;
    expect(dry).toMatchObject({
      rows: 2_500,
      oldest: new Date(archivedStart).toISOString(),
      newest: new Date(archivedStart + 2_499_000).toISOString(),
      blocked_unarchived_rows: 5,
      kept_changed_since_archive: 0,
      batches: 3,
      archive_required: true,
    });
    expect(await w.deps.hotStore.count()).toBe(2_515);

    const report = await w.run({ targets: ['hot'] });
    expect(report.dry_run).toBe(false);
    expect(report.targets.samples).toBeUndefined();
    // RETENTION_APPROVAL=auto: the run planned, approved and executed its own plan.
    expect(report.plan).toMatchObject({ status: 'executed', counts: { hot: 2_500 } });
    // Everything but the cutoff (each run computes it from its own "now").
    const real = report.targets.hot!;
    expect({ ...real, cutoff: null }).toEqual({ ...dry, cutoff: null });
    expect(Date.parse(real.cutoff)).toBe(Date.parse(report.as_of) - 90 * DAY);
    expect(await w.deps.hotStore.count()).toBe(2_515 - dry.rows);
    expect(await w.deps.hotStore.get('domain', 'archived-0.example.com')).toBeUndefined();
    expect(await w.deps.hotStore.get('domain', 'unarchived-0.example.com')).toBeDefined();
    expect(await w.deps.hotStore.get('domain', 'recent-9.example.com')).toBeDefined();

    // Once the day is archived, the next run deletes it; a run after that finds nothing.
    await w.ledger.record(dayOf(unarchivedStart));
    const next = (await w.run({ targets: ['hot'] })).targets.hot!;
    expect(next).toMatchObject({ rows: 5, blocked_unarchived_rows: 0, batches: 1 });
    const again = (await w.run({ targets: ['hot'] })).targets.hot!;
    expect(again).toMatchObject({ rows: 0, oldest: null, newest: null, batches: 0 });
    expect(await w.deps.hotStore.count()).toBe(10);
  });

  it('rows that arrive for a day after it was archived are kept and counted; the archived ones go', async () => {
    const w = await open({ ARCHIVE_ENABLED: 'true' });
    await w.deps.hotStore.upsert(onDay('archived', archivedStart, 20));
    await w.ledger.record(dayOf(archivedStart));
    // A collector back-fills the archived day after its archive ran.
    await w.deps.hotStore.upsert(onDay('late', archivedStart + 30 * 60_000, 3));
    const report = (await w.run({ targets: ['hot'] })).targets.hot!;
    expect(report).toMatchObject({
      rows: 20,
      blocked_unarchived_rows: 0,
      kept_changed_since_archive: 3,
    });
    expect(await w.deps.hotStore.count()).toBe(3);
    expect(await w.deps.hotStore.get('domain', 'late-0.example.com')).toBeDefined();
  });

  it('with archiving off, every row past the window is deleted whatever the ledger holds', async () => {
    const w = await open({ ARCHIVE_ENABLED: 'false' });
    await w.deps.hotStore.upsert([
      ...onDay('old-a', archivedStart, 20),
      ...onDay('old-b', unarchivedStart, 5),
      ...onDay('recent', recentStart, 10),
    ]);
    const report = (await w.run({ targets: ['hot'] })).targets.hot!;
    expect(report).toMatchObject({
      rows: 25,
      oldest: new Date(unarchivedStart).toISOString(),
      newest: new Date(archivedStart + 19_000).toISOString(),
      blocked_unarchived_rows: 0,
      batches: 1,
      archive_required: false,
    });
    expect(await w.deps.hotStore.count()).toBe(10);
  });

  it('long values are deleted too: the key lists are split under the query size limit', async () => {
    const w = await open({ ARCHIVE_ENABLED: 'false' });
    // 300 keys of ~2 KB: ~600 KB of inlined keys in ClickHouse, past max_query_size.
    const long = Array.from({ length: 300 }, (_, i) => ({
      ...ioc('', archivedStart + i * 1_000),
      type: 'url' as const,
      value: `https://example.com/${'a'.repeat(2_000)}/${i}?q='\\`,
    }));
    await w.deps.hotStore.upsert([...long, ...onDay('recent', recentStart, 3)]);
    const report = (await w.run({ targets: ['hot'] })).targets.hot!;
    expect(report).toMatchObject({ rows: 300, batches: 1 });
    expect(await w.deps.hotStore.count()).toBe(3);
  });

  it('an indicator goes whole: seen again recently it survives with its old sightings, last seen on an archived day every sighting goes', async () => {
    const w = await open({ ARCHIVE_ENABLED: 'true' });
    // Separate upserts: in ClickHouse each is its own sighting; PostgreSQL merges them.
    await w.deps.hotStore.upsert([ioc('refreshed.example.com', archivedStart)]);
    await w.deps.hotStore.upsert([ioc('refreshed.example.com', recentStart)]);
    await w.deps.hotStore.upsert([ioc('gone.example.com', unarchivedStart)]);
    await w.deps.hotStore.upsert([ioc('gone.example.com', archivedStart)]);
    await w.ledger.record(dayOf(archivedStart));

    const report = (await w.run({ targets: ['hot'] })).targets.hot!;
    // gone's latest sighting is on the archived day, so its older one (an unarchived day)
    // goes with it and nothing is blocked.
    expect(report).toMatchObject({ rows: 1, blocked_unarchived_rows: 0 });
    expect(await w.deps.hotStore.get('domain', 'gone.example.com')).toBeUndefined();
    const refreshed = await w.deps.hotStore.get('domain', 'refreshed.example.com');
    expect(refreshed?.first_seen.getTime()).toBe(archivedStart - HOUR);
    expect(refreshed?.last_seen.getTime()).toBe(recentStart);
    if (hotStore === 'clickhouse') {
      const result = await w.deps.clickhouse.query({
        query: `SELECT value, count() AS n FROM ${w.config.CLICKHOUSE_DATABASE}.ioc_sightings GROUP BY value ORDER BY value`,
        format: 'JSONEachRow',
      });
      expect(await result.json()).toEqual([{ value: 'refreshed.example.com', n: '2' }]);
    }
  });
});

const CYCLE_JOBS = [archiveLockJob, retentionCleanupJob] as const;

/**
 * archive.lock into a real Object Lock bucket (GOVERNANCE, so the test can clean up) and
 * retention.cleanup over the same hot store and ledger, both through BullMQ.
 */
async function openCycle(hotStore: HotBackendName) {
  const bucket = randomBucketName('archive');
  const world = new World(
    new JobRegistry(CYCLE_JOBS),
    (w) => ({
      'archive.lock': createArchiveLockHandler({
        hotStore: w.deps.hotStore,
        ledger: new ArchiveLedger(w.deps.pg, { schema: w.config.DATABASE_SCHEMA }),
        archive: new WormArchive(w.deps.s3, bucket),
        settings: archiveLockSettings(w.config),
      }),
      'retention.cleanup': createRetentionCleanupHandler({
        settings: retentionSettings(w.config),
        hotRetention: createHotBackend(w.config, w.deps).retention,
        archiveLedger: new ArchiveLedger(w.deps.pg, { schema: w.config.DATABASE_SCHEMA }),
        sampleRetention: new SampleRetention(w.deps.s3, w.config.ARTIFACT_BUCKET_SAMPLES),
        plans: w.deps.maintenancePlans,
      }),
    }),
    {
      HOT_STORE: hotStore,
      ARCHIVE_ENABLED: 'true',
      ARCHIVE_BUCKET: bucket,
      ARCHIVE_LOCK_MODE: 'GOVERNANCE',
      ARCHIVE_RETENTION_YEARS: '1',
      RETENTION_BATCH_SIZE: '1000',
    },
  );
  await world.deps.hotStore.init();
  await new ArchiveLedger(world.deps.pg, { schema: world.config.DATABASE_SCHEMA }).init();
  await world.deps.maintenancePlans.init();
  await new WormArchive(world.deps.s3, bucket).ensureBucket();
  await world.startWorker(['archive', 'maintenance']);

  const finish = async (name: string, id: string, queue: 'archive' | 'maintenance') => {
    const q = world.queues.get(queue);
    const state = await eventually(
      async () => {
        const st = await q.getJobState(id);
        return st === 'completed' || st === 'failed' ? st : undefined;
      },
      120_000,
      `${name} ${id}`,
    );
    const job = await q.getJob(id);
    if (state === 'failed') throw new Error(`${name} failed: ${job?.failedReason}`);
    return job?.returnvalue as unknown;
  };
  return {
    world,
    bucket,
    async archive(): Promise<ArchiveLockResult> {
      const { id } = await world.producer.enqueue('archive.lock', {});
      return (await finish('archive.lock', id, 'archive')) as ArchiveLockResult;
    },
    async retention(dryRun: boolean) {
      const { id } = await world.producer.enqueue('retention.cleanup', {
        dry_run: dryRun,
        hot_days: 1,
        targets: ['hot'],
      });
      return ((await finish('retention.cleanup', id, 'maintenance')) as RetentionReport).targets
        .hot!;
    },
    /** Every object version in the bucket: key, version id and ETag. */
    async objects() {
      const out = await world.deps.s3.send(new ListObjectVersionsCommand({ Bucket: bucket }));
      return (out.Versions ?? [])
        .map((v) => ({ key: v.Key!, version: v.VersionId!, etag: v.ETag! }))
        .sort((a, b) => (a.key < b.key ? -1 : 1));
    },
    async close() {
      try {
        await world.deps.pg.query(
          `DROP SCHEMA IF EXISTS "${world.config.DATABASE_SCHEMA}" CASCADE`,
        );
        if (hotStore === 'clickhouse') {
          await world.deps.clickhouse.command({
            query: `DROP DATABASE IF EXISTS ${world.config.CLICKHOUSE_DATABASE}`,
          });
        }
        await removeBucket(world.deps.s3, bucket);
      } finally {
        await world.close();
      }
    },
  };
}

describe.each(['postgres', 'clickhouse'] as const)(
  'retention after archive generations on %s',
  (hotStore) => {
    let cycle: Awaited<ReturnType<typeof openCycle>> | undefined;
    afterEach(async () => {
      await cycle?.close();
      cycle = undefined;
    });

    // Three days ago: archivable (before today) and past a one-day hot window.
    const d = dayStart(Date.now() - 3 * DAY);
    const day = dayOf(d);
    const sameCounts = (a: HotRetentionReport, b: HotRetentionReport) =>
      expect({ ...b, cutoff: null }).toEqual({ ...a, cutoff: null });

    it('a row that arrives on an archived day is kept and counted, never deleted unarchived; archived again as generation 2 it goes', async () => {
      cycle = await openCycle(hotStore);
      const { world: w } = cycle;
      const store = w.deps.hotStore;
      await store.upsert([ioc('a.example.com', d + HOUR), ioc('b.example.com', d + 2 * HOUR)]);
      expect((await cycle.archive()).days).toMatchObject([{ day, generation: 1, rows: 2 }]);
      const first = await cycle.objects();
      expect(first.map((o) => o.key)).toEqual([archiveManifestKey(day), archivePartKey(day, 1)]);

      // A is seen again a day later (it leaves the day); C arrives on the archived day.
      await store.upsert([ioc('a.example.com', d + DAY + HOUR)]);
      await store.upsert([ioc('c.example.com', d + 3 * HOUR)]);

      const dry = await cycle.retention(true);
      expect(dry).toMatchObject({
        rows: 1,
        oldest: new Date(d + 2 * HOUR).toISOString(),
        newest: new Date(d + 2 * HOUR).toISOString(),
        kept_changed_since_archive: 1,
        blocked_unarchived_rows: 1,
      });
      const real = await cycle.retention(false);
      sameCounts(dry, real);
      expect(await store.get('domain', 'b.example.com')).toBeUndefined();
      expect(await store.get('domain', 'c.example.com')).toBeDefined();
      expect((await store.get('domain', 'a.example.com'))?.last_seen.getTime()).toBe(
        d + DAY + HOUR,
      );

      // The next archive writes the changed day as generation 2 and A's new day as its
      // generation 1; generation 1 of the first day is left exactly as it was.
      const second = await cycle.archive();
      expect(second.days).toMatchObject([
        { day, generation: 2, rows: 1, manifest_key: archiveManifestKey(day, 2) },
        { day: dayOf(d + DAY), generation: 1, rows: 1 },
      ]);
      const all = await cycle.objects();
      expect(all.map((o) => o.key)).toEqual(
        [
          archiveManifestKey(day),
          archivePartKey(day, 1),
          archiveManifestKey(day, 2),
          archivePartKey(day, 1, 2),
          archiveManifestKey(dayOf(d + DAY)),
          archivePartKey(dayOf(d + DAY), 1),
        ].sort(),
      );
      expect(all.filter((o) => first.some((f) => f.key === o.key))).toEqual(first);

      const again = await cycle.retention(true);
      expect(again).toMatchObject({
        rows: 2,
        kept_changed_since_archive: 0,
        blocked_unarchived_rows: 0,
      });
      sameCounts(again, await cycle.retention(false));
      expect(await store.count()).toBe(0);
    });

    it('a row that gains a source after its archive is kept until its day is archived again, then goes', async () => {
      cycle = await openCycle(hotStore);
      const { world: w } = cycle;
      const store = w.deps.hotStore;
      await store.upsert([ioc('a.example.com', d + HOUR), ioc('b.example.com', d + 2 * HOUR)]);
      await cycle.archive();
      const first = await cycle.objects();

      // Same day, same last_seen, one more source (and so a row the archive does not hold).
      await store.upsert([{ ...ioc('a.example.com', d + HOUR), sources: ['misp'] }]);
      const dry = await cycle.retention(true);
      expect(dry).toMatchObject({
        rows: 1,
        kept_changed_since_archive: 1,
        blocked_unarchived_rows: 0,
      });
      sameCounts(dry, await cycle.retention(false));
      expect((await store.get('domain', 'a.example.com'))?.sources).toEqual(['misp', 'otx']);
      expect(await store.get('domain', 'b.example.com')).toBeUndefined();

      expect((await cycle.archive()).days).toMatchObject([{ day, generation: 2, rows: 1 }]);
      const all = await cycle.objects();
      expect(all.map((o) => o.key)).toContain(archivePartKey(day, 1, 2));
      expect(all.filter((o) => first.some((f) => f.key === o.key))).toEqual(first);
      const part = await w.deps.s3.send(
        new GetObjectCommand({ Bucket: cycle.bucket, Key: archivePartKey(day, 1, 2) }),
      );
      const line = JSON.parse(
        gunzipSync(Buffer.from(await part.Body!.transformToByteArray())).toString('utf8'),
      ) as { value: string; sources: string[] };
      expect(line).toMatchObject({ value: 'a.example.com', sources: ['misp', 'otx'] });

      expect(await cycle.retention(false)).toMatchObject({
        rows: 1,
        kept_changed_since_archive: 0,
      });
      expect(await store.count()).toBe(0);
    });
  },
);

describe('sample retention', () => {
  let world: RetentionWorld | undefined;
  let cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.reverse()) await step();
    cleanup = [];
    await world?.close();
    world = undefined;
  });

  async function openWithBuckets(overrides: Record<string, string> = {}) {
    const names = {
      samples: randomBucketName('samples'),
      ta: randomBucketName('ta'),
      debug: randomBucketName('debug'),
    };
    world = new RetentionWorld({
      ARTIFACT_BUCKET_SAMPLES: names.samples,
      ARTIFACT_BUCKET_TA_BUNDLES: names.ta,
      ARTIFACT_BUCKET_DEBUG_BUNDLES: names.debug,
      ...overrides,
    });
    const s3 = world.deps.s3;
    // The samples bucket with Object Lock, so a legal hold and a retention date are real.
    await createBucket(s3, names.samples, { objectLock: true });
    await createBucket(s3, names.ta);
    await createBucket(s3, names.debug);
    for (const bucket of Object.values(names)) cleanup.push(() => removeBucket(s3, bucket));
    await world.initPlans();
    await world.startWorker(['maintenance']);
    return { w: world, s3, names };
  }

  const put = (s3: S3Client, Bucket: string, Key: string, Body: string, extra = {}) =>
    s3.send(new PutObjectCommand({ Bucket, Key, Body, ...extra }));
  const keys = async (s3: S3Client, Bucket: string) =>
    ((await s3.send(new ListObjectsV2Command({ Bucket }))).Contents ?? []).map((o) => o.Key);

  it('deletes samples past the window but never an object under legal hold or retention, nor any TA or debug bundle', async () => {
    const { w, s3, names } = await openWithBuckets();
    await put(s3, names.samples, 'samples/r1/a.log', 'alpha');
    await put(s3, names.samples, 'samples/r1/b.log', 'bravo!!');
    await put(s3, names.samples, 'samples/r2/held.log', 'held');
    await s3.send(
      new PutObjectLegalHoldCommand({
        Bucket: names.samples,
        Key: 'samples/r2/held.log',
        LegalHold: { Status: 'ON' },
      }),
    );
    // Released before the buckets are removed, whatever the test's outcome.
    cleanup.push(async () => {
      await s3.send(
        new PutObjectLegalHoldCommand({
          Bucket: names.samples,
          Key: 'samples/r2/held.log',
          LegalHold: { Status: 'OFF' },
        }),
      );
    });
    await put(s3, names.samples, 'samples/r3/retained.log', 'retained', {
      ObjectLockMode: 'GOVERNANCE',
      ObjectLockRetainUntilDate: new Date(Date.now() + DAY),
    });
    await put(s3, names.ta, 'tas/r1/v1/rev1.tgz', 'ta-bundle');
    await put(s3, names.debug, 'debug/run1/trace.log', 'debug-bundle');

    const dry = await w.run({ dry_run: true, sample_days: 0, targets: ['samples'] });
    expect(dry.targets.hot).toBeUndefined();
    expect(dry.targets.samples).toMatchObject({
      objects: 2,
      bytes: 'alpha'.length + 'bravo!!'.length,
      protected: 2,
      batches: 1,
      bucket: names.samples,
    });
    expect(await keys(s3, names.samples)).toHaveLength(4);

    const real = await w.run({ sample_days: 0, targets: ['samples'] });
    const samples = real.targets.samples!;
    expect({ ...samples, cutoff: null }).toEqual({ ...dry.targets.samples!, cutoff: null });
    expect(Date.parse(samples.cutoff!)).toBe(Date.parse(real.as_of));
    expect(samples.oldest).not.toBeNull();
    expect((await keys(s3, names.samples)).sort()).toEqual([
      'samples/r2/held.log',
      'samples/r3/retained.log',
    ]);
    expect(await keys(s3, names.ta)).toEqual(['tas/r1/v1/rev1.tgz']);
    expect(await keys(s3, names.debug)).toEqual(['debug/run1/trace.log']);
    const held = await s3.send(
      new GetObjectCommand({ Bucket: names.samples, Key: 'samples/r2/held.log' }),
    );
    expect(await held.Body?.transformToString()).toBe('held');
  });

  it('does nothing to samples with SAMPLE_RETENTION_ENABLED=false', async () => {
    const { w, s3, names } = await openWithBuckets({ SAMPLE_RETENTION_ENABLED: 'false' });
    await put(s3, names.samples, 'samples/r1/a.log', 'alpha');
    const disabled = (await w.run({ sample_days: 0, targets: ['samples'] })).targets.samples!;
    expect(disabled).toMatchObject({ objects: 0, cutoff: null, skipped: expect.any(String) });
    expect(await keys(s3, names.samples)).toEqual(['samples/r1/a.log']);
  });

  it('keeps samples younger than the sample window', async () => {
    const { w, s3, names } = await openWithBuckets();
    await put(s3, names.samples, 'samples/r1/a.log', 'alpha');
    const report = await w.run({ targets: ['samples'] });
    expect(report.targets.samples).toMatchObject({ objects: 0, protected: 0, batches: 0 });
    // SAMPLE_RETENTION_DAYS (30) when the payload does not override it.
    expect(Date.parse(report.targets.samples!.cutoff!)).toBe(Date.parse(report.as_of) - 30 * DAY);
    expect(await keys(s3, names.samples)).toEqual(['samples/r1/a.log']);
  });
});
