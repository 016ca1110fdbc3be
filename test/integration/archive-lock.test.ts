// archive.lock through real BullMQ against both hot-store backends, the PostgreSQL ledger
// and Ceph RGW with Object Lock. Each test has its own queues, schema or database and
// bucket. COMPLIANCE objects can never be deleted, not even from this throwaway Ceph, so
// those tests keep them tiny; the big and the failing cases use GOVERNANCE and clean up.
import { createHash, randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gunzipSync } from 'node:zlib';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectRetentionCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Job } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import type { HotBackendName } from '../../src/config.js';
import { archiveLockJob } from '../../jobs/archive-lock/definition.js';
import { archiveLockSettings } from '../../src/composition/settings.js';
import {
  createArchiveLockHandler,
  type ArchiveLockDeps,
  type ArchiveLockResult,
} from '../../jobs/archive-lock/handler.js';
import type { JobContext } from '../../jobs/job-definition.js';
import { NO_JOB_METRICS } from '../../src/metrics.js';
import { JobRegistry } from '../../jobs/job-registry.js';
import {
  archiveManifestKey,
  archivePartKey,
  type ArchiveManifest,
} from '../../src/domain/archive.js';
import type { StoredIoc } from '../../src/domain/ioc.js';
import { utcDayOf } from '../../src/domain/utc-day.js';
import { TransientError } from '../../src/errors/index.js';
import { ArchiveLedger } from '../../src/stores/postgres/archive-ledger.js';
import { WormArchive } from '../../src/stores/s3/worm-archive.js';
import { World, eventually } from '../helpers/world.js';

const DAY = 86_400_000;
const JOBS = [archiveLockJob] as const;
type ArchiveWorld = World<typeof JOBS>;

/** The UTC day `n` days before today. */
const daysAgo = (n: number) => utcDayOf(new Date(Date.now() - n * DAY));

/** n indicators last seen on a UTC day, a second apart. */
function rowsOn(day: string, n: number, prefix = day, pad = ''): StoredIoc[] {
  const start = Date.parse(`${day}T00:00:00Z`);
  return Array.from({ length: n }, (_, i) => ({
    type: 'domain',
    value: `${prefix}-${String(i).padStart(6, '0')}${pad}.example.com`,
    threat_type: i % 2 === 0 ? 'c2' : 'phishing',
    confidence: (i % 10) / 10,
    sources: ['otx'],
    first_seen: new Date(start - DAY),
    last_seen: new Date(start + ((i * 1_000) % DAY)),
    tags: i % 3 === 0 ? ['apt'] : [],
  }));
}

async function body(s3: S3Client, bucket: string, key: string, versionId?: string) {
  const out = await s3.send(
    new GetObjectCommand({
      Bucket: bucket,
      Key: key,
      ...(versionId ? { VersionId: versionId } : {}),
    }),
  );
  return Buffer.from(await out.Body!.transformToByteArray());
}

async function versions(s3: S3Client, bucket: string, prefix = '') {
  const out = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix }));
  return (out.Versions ?? []).map((v) => ({ key: v.Key!, versionId: v.VersionId! }));
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A world running archive.lock only, with its own bucket, ledger schema and hot store. */
class Archiving {
  readonly world: ArchiveWorld;
  readonly ledger: ArchiveLedger;
  readonly archive: WormArchive;
  readonly bucket: string;

  constructor(hotStore: HotBackendName, overrides: Record<string, string> = {}) {
    this.bucket = `t-archive-${randomBytes(5).toString('hex')}`;
    this.world = new World(
      new JobRegistry(JOBS),
      (w) => ({ 'archive.lock': createArchiveLockHandler(this.deps(w)) }),
      {
        HOT_STORE: hotStore,
        ARCHIVE_BUCKET: this.bucket,
        ARCHIVE_LOCK_MODE: 'COMPLIANCE',
        ARCHIVE_RETENTION_YEARS: '7',
        // What the local RGW can really encrypt with (scripts/services/s3.sh).
        ARCHIVE_SSE: 'aws:kms',
        ARCHIVE_KMS_KEY_ID: 'stowage-archive-key',
        ...overrides,
      },
    );
    this.ledger = new ArchiveLedger(this.world.deps.pg, {
      schema: this.world.config.DATABASE_SCHEMA,
    });
    this.archive = new WormArchive(this.world.deps.s3, this.bucket);
  }

  get s3(): S3Client {
    return this.world.deps.s3;
  }

  deps(w: ArchiveWorld): ArchiveLockDeps {
    return {
      hotStore: w.deps.hotStore,
      ledger: this.ledger,
      archive: this.archive,
      settings: archiveLockSettings(w.config),
    };
  }

  /** The hot store, the ledger and (unless told otherwise) a lock-enabled bucket. */
  async init(options: { bucket?: 'locked' | 'plain' | 'none' } = {}): Promise<void> {
    await this.world.deps.hotStore.init();
    await this.ledger.init();
    const bucket = options.bucket ?? 'locked';
    if (bucket === 'locked') await this.archive.ensureBucket();
    if (bucket === 'plain') await this.s3.send(new CreateBucketCommand({ Bucket: this.bucket }));
    await this.world.startWorker(['archive']);
  }

  /** Enqueues archive.lock and waits until it completes or fails for good. */
  async run(payload: { day?: string; max_days?: number }): Promise<Job> {
    const { id } = await this.world.producer.enqueue('archive.lock', payload);
    const queue = this.world.queues.get('archive');
    await eventually(
      async () => {
        const state = await queue.getJobState(id);
        return state === 'completed' || state === 'failed' ? state : undefined;
      },
      120_000,
      `archive.lock ${id}`,
    );
    // Read after the final state, so attempts and the reason are the final ones too.
    const job = await Job.fromId(queue, id);
    if (!job) throw new Error(`job ${id} vanished`);
    return job;
  }

  async completed(payload: { day?: string; max_days?: number }): Promise<ArchiveLockResult> {
    const job = await this.run(payload);
    expect(job.failedReason, 'failedReason').toBeUndefined();
    return job.returnvalue as ArchiveLockResult;
  }

  async ledgerDays(): Promise<string[]> {
    return [...(await this.ledger.archivedDays(new Date(0), new Date(Date.UTC(2200, 0))))];
  }

  /**
   * Drops the schema or database; deletes what GOVERNANCE lets go (with the bypass) and
   * the bucket when it is empty. COMPLIANCE objects and their bucket stay, as they must.
   */
  async close(): Promise<void> {
    const { config, deps } = this.world;
    try {
      await deps.pg.query(`DROP SCHEMA IF EXISTS "${config.DATABASE_SCHEMA}" CASCADE`);
      if (config.HOT_STORE === 'clickhouse') {
        await deps.clickhouse.command({
          query: `DROP DATABASE IF EXISTS ${config.CLICKHOUSE_DATABASE}`,
        });
      }
      let left = 0;
      for (const v of await versions(this.s3, this.bucket).catch(() => [])) {
        await this.s3
          .send(
            new DeleteObjectCommand({
              Bucket: this.bucket,
              Key: v.key,
              VersionId: v.versionId,
              BypassGovernanceRetention: true,
            }),
          )
          .catch(() => {
            left += 1;
          });
      }
      if (left === 0) {
        await this.s3.send(new DeleteBucketCommand({ Bucket: this.bucket })).catch(() => undefined);
      }
    } finally {
      await this.world.close();
    }
  }
}

describe.each(['postgres', 'clickhouse'] as const)('archive.lock on %s', (hotStore) => {
  let a: Archiving | undefined;
  const open = async (
    overrides: Record<string, string> = {},
    bucket?: 'locked' | 'plain' | 'none',
  ) => {
    a = new Archiving(hotStore, overrides);
    await a.init(bucket === undefined ? {} : { bucket });
    return a;
  };
  afterEach(async () => {
    await a?.close();
    a = undefined;
  });

  it('archives a day as COMPLIANCE-locked, KMS-encrypted parts and a manifest that S3 refuses to delete', async () => {
    const w = await open();
    const day = daysAgo(3);
    const rows = rowsOn(day, 5);
    await w.world.deps.hotStore.upsert([...rows, ...rowsOn(daysAgo(2), 2)]);
    const startedAt = Date.now();

    const result = await w.completed({ day });

    const partKey = archivePartKey(day, 1);
    const manifestKey = archiveManifestKey(day);
    expect(partKey).toBe(`archive/iocs/v1/day=${day}/part-00001.ndjson.gz`);
    expect(result).toMatchObject({
      days: [{ day, generation: 1, rows: 5, parts: 1, manifest_key: manifestKey }],
      rows: 5,
    });
    expect(result.days[0]!.skipped).toBeUndefined();

    // The lock as the server reports it: COMPLIANCE, at least 7 years from the run.
    for (const key of [partKey, manifestKey]) {
      const retention = await w.s3.send(
        new GetObjectRetentionCommand({ Bucket: w.bucket, Key: key }),
      );
      expect(retention.Retention?.Mode).toBe('COMPLIANCE');
      const sevenYears = new Date(startedAt);
      sevenYears.setUTCFullYear(sevenYears.getUTCFullYear() + 7);
      expect(retention.Retention!.RetainUntilDate!.getTime()).toBeGreaterThanOrEqual(
        sevenYears.getTime() - 1_000,
      );
      const head = await w.s3.send(new HeadObjectCommand({ Bucket: w.bucket, Key: key }));
      expect(head.ServerSideEncryption).toBe('aws:kms');
      expect(head.SSEKMSKeyId).toBe('stowage-archive-key');
    }

    // The server itself refuses to delete the version, governance bypass or not.
    const [part] = await versions(w.s3, w.bucket, partKey);
    const refused: unknown = await w.s3
      .send(
        new DeleteObjectCommand({
          Bucket: w.bucket,
          Key: partKey,
          VersionId: part!.versionId,
          BypassGovernanceRetention: true,
        }),
      )
      .then(
        () => 'deleted',
        (err: unknown) => err,
      );
    expect(refused).toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    const still = await w.s3.send(
      new HeadObjectCommand({ Bucket: w.bucket, Key: partKey, VersionId: part!.versionId }),
    );
    expect(still.VersionId).toBe(part!.versionId);

    // The ledger has the day, with the manifest's digest.
    const manifestBytes = await body(w.s3, w.bucket, manifestKey);
    expect(await w.ledger.get(day)).toMatchObject({
      day,
      generation: 1,
      high_water: expect.stringMatching(/^\d+$/) as string,
      rows: 5,
      parts: 1,
      manifest_key: manifestKey,
      manifest_sha256: sha256(manifestBytes),
      lock_mode: 'COMPLIANCE',
      backend: hotStore,
      bucket: w.bucket,
    });
    expect(await w.ledgerDays()).toEqual([day]);

    // The part holds the day's rows, merged, as the store returns them.
    const lines = gunzipSync(await body(w.s3, w.bucket, partKey))
      .toString('utf8')
      .trimEnd()
      .split('\n');
    const archived = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const stored = await w.world.deps.hotStore.getMany(rows);
    expect(archived).toEqual(
      stored.map((r) => ({
        ...r,
        first_seen: r.first_seen.toISOString(),
        last_seen: r.last_seen.toISOString(),
      })),
    );
  });

  it('splits a window larger than ARCHIVE_PART_ROWS into parts the manifest lists with their rows and digests', async () => {
    const w = await open({ ARCHIVE_PART_ROWS: '1000' });
    const day = daysAgo(4);
    await w.world.deps.hotStore.upsert(rowsOn(day, 2_500));

    const result = await w.completed({ day });
    expect(result.days[0]).toMatchObject({ rows: 2_500, parts: 3 });

    const manifest = JSON.parse(
      (await body(w.s3, w.bucket, archiveManifestKey(day))).toString('utf8'),
    ) as ArchiveManifest;
    expect(manifest).toMatchObject({
      schema_version: 1,
      day,
      window_start: `${day}T00:00:00.000Z`,
      window_end: new Date(Date.parse(`${day}T00:00:00Z`) + DAY).toISOString(),
      backend: hotStore,
      format: 'ndjson+gzip',
      rows: 2_500,
      lock_mode: 'COMPLIANCE',
      sse: 'aws:kms',
    });
    expect(manifest.parts.map((p) => [p.key, p.rows])).toEqual([
      [archivePartKey(day, 1), 1_000],
      [archivePartKey(day, 2), 1_000],
      [archivePartKey(day, 3), 500],
    ]);
    expect(new Date(manifest.retain_until).getTime()).toBeGreaterThan(Date.now() + 6.9 * 365 * DAY);

    const values: string[] = [];
    for (const p of manifest.parts) {
      const bytes = await body(w.s3, w.bucket, p.key, p.version_id ?? undefined);
      expect(bytes.length).toBe(p.bytes);
      expect(sha256(bytes)).toBe(p.sha256);
      const ndjson = gunzipSync(bytes).toString('utf8');
      expect(sha256(ndjson)).toBe(p.ndjson_sha256);
      const lines = ndjson.trimEnd().split('\n');
      expect(lines).toHaveLength(p.rows);
      values.push(...lines.map((l) => (JSON.parse(l) as { value: string }).value));
    }
    expect(manifest.bytes).toBe(manifest.parts.reduce((s, p) => s + p.bytes, 0));
    // Every row once, in (type, value) order across the parts.
    expect(values).toEqual(rowsOn(day, 2_500).map((r) => r.value));
  });

  it('re-running an archived day writes no second ledger entry and no second version of anything', async () => {
    const w = await open();
    const day = daysAgo(5);
    await w.world.deps.hotStore.upsert(rowsOn(day, 3));

    const first = await w.completed({ day });
    const firstEntry = await w.ledger.get(day);
    const before = await versions(w.s3, w.bucket);
    expect(before).toHaveLength(2);

    const again = await w.completed({ day });
    expect(again).toEqual({
      days: [
        {
          day,
          generation: 1,
          rows: 3,
          parts: 1,
          bytes: first.days[0]!.bytes,
          manifest_key: archiveManifestKey(day),
          retain_until: firstEntry!.retain_until.toISOString(),
          skipped: 'already_archived',
        },
      ],
      rows: 0,
      bytes: 0,
    });
    expect(await versions(w.s3, w.bucket, archiveManifestKey(day))).toHaveLength(1);
    expect(await versions(w.s3, w.bucket)).toEqual(before);
    expect(await w.ledger.get(day)).toEqual(firstEntry);
    const { rows } = await w.world.deps.pg.query<{ n: string }>(
      `SELECT count(*) AS n FROM "${w.world.config.DATABASE_SCHEMA}".archive_ledger`,
    );
    expect(Number(rows[0]!.n)).toBe(1);
  });

  it('without a day, archives every unarchived day before today, oldest first, at most max_days', async () => {
    const w = await open();
    const days = [daysAgo(6), daysAgo(4), daysAgo(3), daysAgo(1)];
    await w.world.deps.hotStore.upsert([
      ...days.flatMap((d) => rowsOn(d, 2)),
      ...rowsOn(daysAgo(0), 2),
    ]);
    await w.completed({ day: daysAgo(4) });

    const first = await w.completed({ max_days: 2 });
    expect(first.days.map((d) => [d.day, d.rows, d.skipped])).toEqual([
      [days[0], 2, undefined],
      [days[2], 2, undefined],
    ]);
    const rest = await w.completed({});
    expect(rest.days.map((d) => d.day)).toEqual([days[3]]);
    expect(await w.ledgerDays()).toEqual(days);
    // Today is still going on: never archived without being asked, and refused when asked.
    expect((await w.completed({})).days).toEqual([]);
    const today = await w.run({ day: daysAgo(0) });
    expect(today.failedReason).toMatch(/^archive_day_not_over: .* is not over yet/);
    expect(today.attemptsMade).toBe(1);
  });

  it('a day that changed after its archive is archived again as the next generation under keys of its own; the first generation stays as it was', async () => {
    const w = await open({ ARCHIVE_LOCK_MODE: 'GOVERNANCE', ARCHIVE_RETENTION_YEARS: '1' });
    const day = daysAgo(5);
    const rows = rowsOn(day, 3);
    await w.world.deps.hotStore.upsert(rows);

    expect((await w.completed({})).days).toMatchObject([{ day, generation: 1, rows: 3 }]);
    const first = await versions(w.s3, w.bucket);
    expect(first.map((v) => v.key).sort()).toEqual(
      [archiveManifestKey(day), archivePartKey(day, 1)].sort(),
    );
    // Nothing changed: nothing to do.
    expect((await w.completed({})).days).toEqual([]);

    // A row gains a source and stays on its day.
    await w.world.deps.hotStore.upsert([{ ...rows[0]!, sources: ['misp'] }]);
    const again = await w.completed({});
    expect(again.days).toMatchObject([
      { day, generation: 2, rows: 3, parts: 1, manifest_key: archiveManifestKey(day, 2) },
    ]);
    expect(archiveManifestKey(day, 2)).toBe(
      `archive/iocs/v1/day=${day}/generation=2/manifest.json`,
    );
    const all = await versions(w.s3, w.bucket);
    expect(all).toHaveLength(4);
    // Generation 1's objects: the same versions, the same bytes as before.
    expect(all.filter((v) => first.some((f) => f.key === v.key))).toEqual(first);
    const lines = (key: string) =>
      body(w.s3, w.bucket, key).then((b) =>
        gunzipSync(b)
          .toString('utf8')
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l) as { value: string; sources: string[] }),
      );
    const oldCopy = (await lines(archivePartKey(day, 1))).find((r) => r.value === rows[0]!.value);
    const newCopy = (await lines(archivePartKey(day, 1, 2))).find(
      (r) => r.value === rows[0]!.value,
    );
    expect(oldCopy?.sources).toEqual(['otx']);
    expect(newCopy?.sources).toEqual(['misp', 'otx']);
    const manifest = JSON.parse(
      (await body(w.s3, w.bucket, archiveManifestKey(day, 2))).toString('utf8'),
    ) as ArchiveManifest;
    expect(manifest).toMatchObject({ day, generation: 2, rows: 3 });

    expect(await w.ledger.get(day)).toMatchObject({ generation: 2, rows: 3 });
    expect(await w.ledger.get(day, 1)).toMatchObject({
      generation: 1,
      manifest_key: archiveManifestKey(day),
    });
    // Asked for by name, the day is now archived as it is: skipped, nothing written.
    expect((await w.completed({ day })).days[0]).toMatchObject({
      generation: 2,
      skipped: 'already_archived',
    });
    expect(await versions(w.s3, w.bucket)).toHaveLength(4);
  });

  it('fails after exactly one attempt, with nothing recorded, when the bucket has no Object Lock', async () => {
    const w = await open({}, 'plain');
    const day = daysAgo(2);
    await w.world.deps.hotStore.upsert(rowsOn(day, 2));

    const job = await w.run({ day });

    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toContain('bucket_without_object_lock');
    expect(job.failedReason).toContain(`archive bucket "${w.bucket}" has no Object Lock`);
    expect(await w.ledgerDays()).toEqual([]);
    expect(await versions(w.s3, w.bucket)).toEqual([]);
  });
});

describe('archive.lock recovery and limits', () => {
  let a: Archiving | undefined;
  afterEach(async () => {
    await a?.close();
    a = undefined;
  });

  /** Runs the handler directly (no queue), as one attempt of a job would. */
  async function attempt(w: Archiving, deps: ArchiveLockDeps, payload: { day?: string }) {
    const ctx: JobContext = {
      jobId: 'archive.lock.direct',
      name: 'archive.lock',
      queue: 'archive',
      attempt: 1,
      maxAttempts: 1,
      log: w.world.deps.log,
      metrics: NO_JOB_METRICS,
      signal: new AbortController().signal,
      progress: () => Promise.resolve(),
      checkpoint: undefined,
      meta: {},
      saveCheckpoint: () => Promise.resolve(),
      childResults: () => Promise.resolve({}),
      note: () => undefined,
    };
    return createArchiveLockHandler(deps)({ max_days: 31, ...payload }, ctx);
  }

  it('a retry after a crash keeps the parts and the manifest already written: one version each', async () => {
    a = new Archiving('postgres', { ARCHIVE_PART_ROWS: '10' });
    const w = a;
    await w.init();
    const day = daysAgo(7);
    await w.world.deps.hotStore.upsert(rowsOn(day, 25));
    const deps = w.deps(w.world);

    // Crash while writing the third part.
    let puts = 0;
    const crashing: ArchiveLockDeps = {
      ...deps,
      archive: {
        bucket: w.archive.bucket,
        assertObjectLock: () => w.archive.assertObjectLock(),
        findReusable: (key, expect) => w.archive.findReusable(key, expect),
        putLocked: (key, bytes, options) => {
          puts += 1;
          if (puts === 3) return Promise.reject(new Error('worker killed'));
          return w.archive.putLocked(key, bytes, options);
        },
      },
    };
    await expect(attempt(w, crashing, { day })).rejects.toThrow('worker killed');
    expect(await w.ledger.get(day)).toBeUndefined();

    // Crash after the manifest, before the ledger.
    const unrecorded: ArchiveLockDeps = {
      ...deps,
      ledger: {
        get: (d) => w.ledger.get(d),
        latestGenerations: (f, t) => w.ledger.latestGenerations(f, t),
        lockDay: (d) => w.ledger.lockDay(d),
        record: () => Promise.reject(new Error('connection lost')),
      },
    };
    await expect(attempt(w, unrecorded, { day })).rejects.toThrow('connection lost');
    expect(await w.ledger.get(day)).toBeUndefined();

    const result = await attempt(w, deps, { day });
    expect(result.days[0]).toMatchObject({ day, rows: 25, parts: 3, reused_objects: 4 });
    const all = await versions(w.s3, w.bucket);
    expect(all.map((v) => v.key).sort()).toEqual(
      [1, 2, 3]
        .map((n) => archivePartKey(day, n))
        .concat(archiveManifestKey(day))
        .sort(),
    );
    expect(await w.ledger.get(day)).toMatchObject({ rows: 25, parts: 3 });
  });

  it('a part whose rows changed since the crash is written again as a new version, and the manifest names it', async () => {
    a = new Archiving('postgres', {
      ARCHIVE_PART_ROWS: '10',
      ARCHIVE_LOCK_MODE: 'GOVERNANCE',
      ARCHIVE_RETENTION_YEARS: '1',
    });
    const w = a;
    await w.init();
    const day = daysAgo(8);
    await w.world.deps.hotStore.upsert(rowsOn(day, 15));
    const deps = w.deps(w.world);
    const unrecorded: ArchiveLockDeps = {
      ...deps,
      ledger: { ...pickLedger(w.ledger), record: () => Promise.reject(new Error('crash')) },
    };
    await expect(attempt(w, unrecorded, { day })).rejects.toThrow('crash');
    // A late row lands in the second part.
    await w.world.deps.hotStore.upsert(rowsOn(day, 16).slice(15));

    const result = await attempt(w, deps, { day });
    expect(result.days[0]).toMatchObject({ rows: 16, parts: 2, reused_objects: 1 });
    expect(await versions(w.s3, w.bucket, archivePartKey(day, 1))).toHaveLength(1);
    const second = await versions(w.s3, w.bucket, archivePartKey(day, 2));
    expect(second).toHaveLength(2);
    const manifest = JSON.parse(
      (await body(w.s3, w.bucket, archiveManifestKey(day))).toString('utf8'),
    ) as ArchiveManifest;
    const listed = manifest.parts[1]!;
    const bytes = await body(w.s3, w.bucket, listed.key, listed.version_id!);
    expect(gunzipSync(bytes).toString('utf8').trimEnd().split('\n')).toHaveLength(6);
    expect(await versions(w.s3, w.bucket, archiveManifestKey(day))).toHaveLength(2);
  });

  it('ARCHIVE_SSE=AES256 on Ceph RGW 16 fails verification at once: RGW stores it unencrypted and says nothing', async () => {
    a = new Archiving('postgres', {
      ARCHIVE_SSE: 'AES256',
      ARCHIVE_LOCK_MODE: 'GOVERNANCE',
      ARCHIVE_RETENTION_YEARS: '1',
    });
    await a.init();
    const day = daysAgo(2);
    await a.world.deps.hotStore.upsert(rowsOn(day, 1));
    const job = await a.run({ day });
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(
      /^archive_verification_failed: .*server-side encryption is not reported, AES256 was requested/,
    );
    expect(await a.ledgerDays()).toEqual([]);
  });

  it('a KMS key the server does not know fails at once, naming the settings to check', async () => {
    a = new Archiving('postgres', { ARCHIVE_KMS_KEY_ID: 'no-such-key' });
    await a.init();
    const day = daysAgo(2);
    await a.world.deps.hotStore.upsert(rowsOn(day, 1));
    const job = await a.run({ day });
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(
      /^archive_put_rejected: S3 refused an Object Lock PUT of .* with server-side encryption aws:kms \(KMS key no-such-key\): check ARCHIVE_SSE and ARCHIVE_KMS_KEY_ID/,
    );
    expect(await versions(a.s3, a.bucket)).toEqual([]);
    expect(await a.ledgerDays()).toEqual([]);
  });

  it.each(['postgres', 'clickhouse'] as const)(
    'streams a day of 60,000 rows from %s in parts: the heap grows far less than the data',
    async (hotStore) => {
      a = new Archiving(hotStore, {
        ARCHIVE_PART_ROWS: '15000',
        ARCHIVE_LOCK_MODE: 'GOVERNANCE',
        ARCHIVE_RETENTION_YEARS: '1',
      });
      const w = a;
      await w.init();
      const day = daysAgo(9);
      const pad = `-${'x'.repeat(200)}`;
      let ndjsonBytes = 0;
      for (let i = 0; i < 60_000; i += 20_000) {
        const chunk = rowsOn(day, 20_000, `r${i / 20_000}`, pad);
        ndjsonBytes += chunk.reduce((s, r) => s + JSON.stringify(r).length + 1, 0);
        // Idempotent, so a transient failure (a stale keep-alive socket on a loaded
        // machine) is retried as the ingest job would be.
        await retryTransient(() => w.world.deps.hotStore.upsert(chunk));
      }
      // Live heap, not garbage V8 has not collected yet: a forced full GC before each
      // sample, taken as each page arrives (a page and the part being built are live
      // then). One sample a page, not one on a timer: a full GC every few milliseconds
      // starved the job on a busy machine.
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as () => void;
      let peak = 0;
      let samples = 0;
      const store = w.world.deps.hotStore;
      const sample = () => {
        gc();
        samples += 1;
        peak = Math.max(peak, process.memoryUsage().heapUsed - base);
      };
      const deps: ArchiveLockDeps = {
        ...w.deps(w.world),
        hotStore: {
          backend: store.backend,
          windowDays: (before, from) => store.windowDays(before, from),
          versionHighWater: (options) => store.versionHighWater(options),
          async *streamWindow(from, to, size) {
            for await (const page of store.streamWindow(from, to, size)) {
              sample();
              yield page;
            }
          },
        },
        // Pages of 2,000 rows (the default is 10,000): what is live at a time is then small
        // next to 60,000 rows, as 10,000 rows are next to a production day of millions.
        settings: { ...w.deps(w.world).settings, pageRows: 2_000 },
      };
      gc();
      gc();
      const base = process.memoryUsage().heapUsed;
      const started = performance.now();
      // A transient failure is retried, as BullMQ would retry the job.
      const result = await retryTransient(() => attempt(w, deps, { day }));
      const ms = performance.now() - started;

      expect(result.days[0]).toMatchObject({ rows: 60_000, parts: 4 });
      expect(samples).toBeGreaterThanOrEqual(30);
      // Every row is in the parts, once: the stream neither skipped nor repeated a page.
      let lines = 0;
      for (let n = 1; n <= 4; n++) {
        lines += gunzipSync(await body(w.s3, w.bucket, archivePartKey(day, n)))
          .toString('utf8')
          .trimEnd()
          .split('\n').length;
      }
      expect(lines).toBe(60_000);
      console.info(
        `archive.lock 60,000 rows from ${hotStore}: ${Math.round(ms)} ms, ndjson ${(ndjsonBytes / 2 ** 20).toFixed(1)} MiB, gzip ${(result.bytes / 2 ** 20).toFixed(2)} MiB, peak heap growth ${(peak / 2 ** 20).toFixed(1)} MiB`,
      );
      // Rough on purpose: one page of rows (2,000, about 3 MiB as objects here) and one
      // compressed part are live at a time; the whole window as objects would be several
      // times the NDJSON size (about 19 MiB).
      expect(peak).toBeLessThan(ndjsonBytes / 2);
    },
    // Loading 60,000 rows and archiving them takes 10–20 s on 2 busy cores.
    120_000,
  );
});

/** Runs work, and once more after a TransientError (as BullMQ retries a job). */
async function retryTransient<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (!(err instanceof TransientError)) throw err;
    return work();
  }
}

function pickLedger(ledger: ArchiveLedger): ArchiveLockDeps['ledger'] {
  return {
    get: (d) => ledger.get(d),
    latestGenerations: (f, t) => ledger.latestGenerations(f, t),
    lockDay: (d) => ledger.lockDay(d),
    record: (e) => ledger.record(e),
  };
}

describe('WormArchive', () => {
  it('names the bucket when it has no Object Lock or does not exist', async () => {
    const w = new Archiving('postgres');
    try {
      const missing = await w.archive.assertObjectLock().catch((err: unknown) => err);
      expect(missing).toMatchObject({ code: 'archive_bucket_missing' });
      expect(String((missing as Error).message)).toContain(w.bucket);
      await w.s3.send(new CreateBucketCommand({ Bucket: w.bucket }));
      // ensureBucket does not turn an existing plain bucket into a locked one.
      const plain = await w.archive.ensureBucket().catch((err: unknown) => err);
      expect(plain).toMatchObject({
        code: 'bucket_without_object_lock',
        message: expect.stringContaining(
          `archive bucket "${w.bucket}" has no Object Lock`,
        ) as string,
      });
    } finally {
      await w.close();
    }
  });
});
