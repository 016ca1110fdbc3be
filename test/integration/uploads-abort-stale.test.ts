// uploads.abort-stale through real BullMQ against the local Ceph RGW.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { artifactUploadJob, spoolTagOf } from '../../jobs/artifact-upload/definition.js';
import { createHandlers } from '../../jobs/job-type.js';
import { JOB_TYPES } from '../../jobs/registry.js';
import { workerResourcesOf } from '../../src/composition/root.js';
import type { InputOf } from '../../jobs/job-definition.js';
import { JobRegistry } from '../../jobs/job-registry.js';
import { uploadsAbortStaleJob } from '../../jobs/uploads-abort-stale/definition.js';
import type { AbortStaleReport } from '../../jobs/uploads-abort-stale/handler.js';
import { createBucket, randomBucketName, removeBucket } from '../helpers/buckets.js';
import { World, eventually } from '../helpers/world.js';

const JOBS = [uploadsAbortStaleJob, artifactUploadJob] as const;

/**
 * A world running uploads.abort-stale only (as the worker builds it), over three artifact
 * buckets and a spool directory of its own; artifact.upload jobs can be queued, never run.
 */
class AbortStaleWorld extends World<typeof JOBS> {
  constructor(overrides: Record<string, string>) {
    super(
      new JobRegistry(JOBS),
      (w) =>
        createHandlers(
          JOB_TYPES.filter((t) => t.definition.name === 'uploads.abort-stale'),
          workerResourcesOf(w.deps),
        ),
      overrides,
    );
  }

  /** Enqueues one run, waits for it, and returns its report. */
  async run(payload: InputOf<typeof uploadsAbortStaleJob>): Promise<AbortStaleReport> {
    const queue = this.queues.get('maintenance');
    const { id } = await this.producer.enqueue('uploads.abort-stale', payload);
    const state = await eventually(
      async () => {
        const s = await queue.getJobState(id);
        return s === 'completed' || s === 'failed' ? s : undefined;
      },
      30_000,
      `abort-stale job ${id}`,
    );
    const job = await queue.getJob(id);
    if (state === 'failed') throw new Error(`abort-stale job failed: ${job?.failedReason}`);
    return job?.returnvalue as AbortStaleReport;
  }
}

async function startUpload(s3: S3Client, Bucket: string, Key: string): Promise<string> {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }));
  await s3.send(
    new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: Buffer.alloc(1024, 7) }),
  );
  return UploadId!;
}

async function openUploads(s3: S3Client, Bucket: string): Promise<string[]> {
  const out = await s3.send(new ListMultipartUploadsCommand({ Bucket }));
  return (out.Uploads ?? []).map((u) => u.UploadId!).sort();
}

describe('uploads.abort-stale', () => {
  let world: AbortStaleWorld | undefined;
  const buckets: string[] = [];
  const spools: string[] = [];
  afterEach(async () => {
    if (world) for (const b of buckets.splice(0)) await removeBucket(world.deps.s3, b);
    await world?.close();
    world = undefined;
    for (const dir of spools.splice(0)) await rm(dir, { recursive: true, force: true });
  });
  /** A spool directory of the test's own: the sweep must never see anyone else's files. */
  const ownSpool = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stowage-sweep-'));
    spools.push(dir);
    return dir;
  };

  it('aborts uploads initiated before the limit and keeps younger ones; the dry run reports the same and aborts nothing', async () => {
    const names = {
      samples: randomBucketName('samples'),
      ta: randomBucketName('ta'),
      debug: randomBucketName('debug'),
    };
    world = new AbortStaleWorld({
      ARTIFACT_BUCKET_SAMPLES: names.samples,
      ARTIFACT_BUCKET_TA_BUNDLES: names.ta,
      ARTIFACT_BUCKET_DEBUG_BUNDLES: names.debug,
      SPOOL_DIR: await ownSpool(),
    });
    const s3 = world.deps.s3;
    for (const name of Object.values(names)) buckets.push(await createBucket(s3, name));
    await world.startWorker(['maintenance']);

    const stale = await startUpload(s3, names.samples, 'samples/r1/stale.log');
    const staleBundle = await startUpload(s3, names.ta, 'tas/r1/v1/rev1.tgz');
    // Uploads cannot be backdated: age them for real, past the 2 s limit below.
    await sleep(3_000);
    const fresh = await startUpload(s3, names.samples, 'samples/r2/fresh.log');

    const dry = await world.run({ older_than_seconds: 2, dry_run: true });
    expect(dry.dry_run).toBe(true);
    expect(dry.buckets.sample).toMatchObject({
      bucket: names.samples,
      aborted: 1,
      kept: 1,
      aborted_uploads: [{ key: 'samples/r1/stale.log', upload_id: stale }],
      kept_uploads: [{ key: 'samples/r2/fresh.log', upload_id: fresh }],
    });
    expect(dry.buckets['ta-bundle']).toMatchObject({ aborted: 1, kept: 0 });
    expect(dry.buckets['debug-bundle']).toMatchObject({ aborted: 0, kept: 0 });
    expect(await openUploads(s3, names.samples)).toEqual([stale, fresh].sort());
    expect(await openUploads(s3, names.ta)).toEqual([staleBundle]);

    const real = await world.run({ older_than_seconds: 2 });
    expect(real.dry_run).toBe(false);
    for (const kind of ['sample', 'ta-bundle', 'debug-bundle'] as const) {
      const { aborted, kept, aborted_uploads, kept_uploads } = real.buckets[kind];
      expect({ aborted, kept, aborted_uploads, kept_uploads }).toEqual({
        aborted: dry.buckets[kind].aborted,
        kept: dry.buckets[kind].kept,
        aborted_uploads: dry.buckets[kind].aborted_uploads,
        kept_uploads: dry.buckets[kind].kept_uploads,
      });
    }
    expect(await openUploads(s3, names.samples)).toEqual([fresh]);
    expect(await openUploads(s3, names.ta)).toEqual([]);

    // The default limit (UPLOAD_STALE_HOURS, 24 h) leaves the young upload alone.
    const byDefault = await world.run({});
    expect(byDefault.buckets.sample).toMatchObject({ aborted: 0, kept: 1 });
    expect(Date.parse(byDefault.before)).toBeLessThan(Date.now() - 23 * 3_600_000);
  });

  it('a bucket that does not exist yet counts as empty', async () => {
    world = new AbortStaleWorld({
      ARTIFACT_BUCKET_SAMPLES: randomBucketName('samples'),
      ARTIFACT_BUCKET_TA_BUNDLES: randomBucketName('ta'),
      ARTIFACT_BUCKET_DEBUG_BUNDLES: randomBucketName('debug'),
      SPOOL_DIR: await ownSpool(),
    });
    await world.startWorker(['maintenance']);
    const report = await world.run({ older_than_hours: 1 });
    for (const sweep of Object.values(report.buckets)) {
      expect(sweep).toMatchObject({ aborted: 0, kept: 0, bucket_missing: true });
    }
  });

  it('removes spool files no job references once older than the grace period, and keeps a referenced one, a young one and foreign names', async () => {
    const spool = await ownSpool();
    world = new AbortStaleWorld({
      ARTIFACT_BUCKET_SAMPLES: randomBucketName('samples'),
      ARTIFACT_BUCKET_TA_BUNDLES: randomBucketName('ta'),
      ARTIFACT_BUCKET_DEBUG_BUNDLES: randomBucketName('debug'),
      SPOOL_DIR: spool,
      SPOOL_ORPHAN_GRACE_MINUTES: '5',
    });
    await world.startWorker(['maintenance']);
    const hex = () => randomBytes(16).toString('hex');
    const bytes = Buffer.from('spooled bytes');
    const sha256 = 'b'.repeat(64);

    // A job that still needs its file: queued (no artifacts worker here), bound to it.
    const payloadWith = (file: string) => ({
      target: { kind: 'sample' as const, request_id: 'sweep', filename: 'kept.log' },
      source: { type: 'spool' as const, file, size: bytes.length, sha256 },
    });
    const jobId = world.producer.jobIdFor('artifact.upload', payloadWith(`x.${hex()}`), {
      trusted: true,
    });
    const referenced = `${spoolTagOf(jobId)}.${hex()}`;
    await world.producer.enqueue('artifact.upload', payloadWith(referenced), {
      trusted: true,
      jobId,
    });
    const files = {
      referenced,
      // Bound to a job that does not exist (its intake crashed, or the job was removed).
      orphan: `k${'0'.repeat(40)}.${hex()}`,
      // Received but never bound, and a partial upload a crashed api left.
      unbound: hex(),
      partial: `.${hex()}.part`,
      young: `k${'1'.repeat(40)}.${hex()}`,
      foreign: 'README.txt',
    };
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const [name, file] of Object.entries(files)) {
      await writeFile(join(spool, file), bytes);
      if (name !== 'young') await utimes(join(spool, file), hourAgo, hourAgo);
    }

    const dry = await world.run({ dry_run: true });
    expect(dry.spool).toMatchObject({ removed: 3, removed_bytes: 3 * bytes.length, kept: 3 });
    expect((await readdir(spool)).sort()).toEqual(Object.values(files).sort());

    const real = await world.run({});
    expect(real.spool).toMatchObject({ removed: 3, kept: 3 });
    expect((await readdir(spool)).sort()).toEqual(
      [files.referenced, files.young, files.foreign].sort(),
    );
    // The report names no file: readers see it (the worker's log has the names).
    expect(JSON.stringify(real)).not.toContain(files.orphan);
  });
});
