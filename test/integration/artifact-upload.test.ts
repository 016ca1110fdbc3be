import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Job } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createArtifactUploadHandler } from '../../jobs/artifact-upload/handler.js';
import { createHandlers } from '../../jobs/job-type.js';
import { JOB_TYPES } from '../../jobs/registry.js';
import { workerResourcesOf } from '../../src/composition/root.js';
import { parseUrlAllowlist } from '../../src/domain/url-allowlist.js';
import { CHECKPOINT_KEY } from '../../jobs/checkpoint.js';
import {
  artifactOverrides,
  dropArtifacts,
  incompleteUploads,
  objectDigest,
  spoolForJob,
  writeRandomFile,
} from '../helpers/artifacts.js';
import { StowageWorld, eventually } from '../helpers/world.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;

/** Waits until a job has finished; returns it with its final state. */
async function finished(world: StowageWorld, id: string, timeoutMs = 30_000) {
  const queue = world.queues.get('artifacts');
  const state = await eventually(
    async () => {
      const s = await queue.getJobState(id);
      return s === 'completed' || s === 'failed' ? s : undefined;
    },
    timeoutMs,
    `job ${id} finished`,
  );
  return { state, job: (await Job.fromId(queue, id))! };
}

const sampleTarget = (requestId: string, filename: string) => ({
  kind: 'sample' as const,
  request_id: requestId,
  filename,
});

describe('artifact.upload from the spool', () => {
  let overrides: Record<string, string>;
  let world: StowageWorld;
  let spool: string;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    overrides = await artifactOverrides();
    spool = overrides.SPOOL_DIR!;
    world = new StowageWorld({
      ...overrides,
      UPLOAD_PART_SIZE_BYTES: String(PART),
      UPLOAD_QUEUE_SIZE: '4',
    });
    await world.deps.artifacts.ensureBuckets();
  });
  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    await world.close().finally(() => dropArtifacts(world.deps.s3, overrides));
  });

  it('streams a 40 MiB file into its bucket with its digest, reports 100 %, removes the spool file; a rerun is a no-op', async () => {
    const sha256 = await writeRandomFile(join(spool, 'raw-40m'), 40 * MiB);
    await copyFile(join(spool, 'raw-40m'), join(spool, 'raw-40m-again'));
    await world.startWorker(['artifacts']);
    const bucket = world.deps.artifacts.bucketFor('sample');
    const target = sampleTarget('req-1', 'big.log');
    const first = await spoolForJob(world.producer, spool, join(spool, 'raw-40m'), {
      target,
      source: { size: 40 * MiB, sha256 },
      content_type: 'text/plain',
      metadata: { collector: 'otx' },
    });
    const job = await world.producer.enqueue('artifact.upload', first.payload, {
      trusted: true,
      jobId: first.jobId,
    });
    const { state, job: done } = await finished(world, job.id);
    expect(state, done.failedReason).toBe('completed');
    expect(done.returnvalue).toMatchObject({
      key: 'samples/req-1/big.log',
      bucket,
      size: 40 * MiB,
      sha256,
      parts: 8,
      resumed_parts: 0,
      sent_parts: 8,
    });
    expect(done.progress).toMatchObject({ bytes: 40 * MiB, total: 40 * MiB, percent: 100 });
    expect(existsSync(join(spool, first.file))).toBe(false);

    const head = await world.deps.artifacts.head('sample', 'samples/req-1/big.log');
    expect(head).toMatchObject({
      size: 40 * MiB,
      sha256,
      metadata: { sha256, size: String(40 * MiB), collector: 'otx' },
    });
    expect(await objectDigest(world.deps.s3, bucket, 'samples/req-1/big.log')).toEqual({
      sha256,
      bytes: 40 * MiB,
    });

    // The same artifact again, as a new job: the object is there with this digest.
    const second = await spoolForJob(
      world.producer,
      spool,
      join(spool, 'raw-40m-again'),
      { target, source: { size: 40 * MiB, sha256 } },
      { idempotencyKey: 'rerun' },
    );
    const again = await world.producer.enqueue('artifact.upload', second.payload, {
      trusted: true,
      jobId: second.jobId,
    });
    expect(again.id).not.toBe(job.id);
    const rerun = await finished(world, again.id);
    expect(rerun.job.returnvalue).toEqual({
      key: 'samples/req-1/big.log',
      bucket,
      size: 40 * MiB,
      sha256,
      already_present: true,
    });
    expect(existsSync(join(spool, second.file))).toBe(false);
    expect(await world.deps.artifacts.head('sample', 'samples/req-1/big.log')).toMatchObject({
      lastModified: head!.lastModified,
    });
  });

  it('a declared digest that does not match fails once, aborts the multipart upload and writes nothing', async () => {
    await writeRandomFile(join(spool, 'raw-bad'), 12 * MiB);
    await world.startWorker(['artifacts']);
    const bad = await spoolForJob(world.producer, spool, join(spool, 'raw-bad'), {
      target: sampleTarget('req-2', 'bad.log'),
      source: {
        size: 12 * MiB,
        sha256: createHash('sha256').update('something else').digest('hex'),
      },
    });
    const job = await world.producer.enqueue('artifact.upload', bad.payload, {
      trusted: true,
      jobId: bad.jobId,
    });
    const { state, job: failed } = await finished(world, job.id);
    expect(state).toBe('failed');
    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason).toMatch(/^checksum_mismatch: /);
    // The upload had been started (its id is in the checkpoint), and it was aborted.
    expect(
      (failed.data as Record<string, { uploadId?: string }>)[CHECKPOINT_KEY]?.uploadId,
    ).toBeTruthy();
    const bucket = world.deps.artifacts.bucketFor('sample');
    expect(await incompleteUploads(world.deps.s3, bucket)).toEqual([]);
    expect(await world.deps.artifacts.head('sample', 'samples/req-2/bad.log')).toBeUndefined();
    // The spool file stays for a person to look at; only success removes it.
    expect(existsSync(join(spool, bad.file))).toBe(true);
  });

  it('a missing spool file with no object fails permanently as spool_file_missing, without naming the file', async () => {
    await world.startWorker(['artifacts']);
    await writeFile(join(spool, 'raw-gone'), 'gone!');
    const gone = await spoolForJob(world.producer, spool, join(spool, 'raw-gone'), {
      target: sampleTarget('req-3', 'gone.log'),
      source: { size: 5, sha256: 'a'.repeat(64) },
    });
    await rm(join(spool, gone.file));
    const job = await world.producer.enqueue('artifact.upload', gone.payload, {
      trusted: true,
      jobId: gone.jobId,
    });
    const { state, job: failed } = await finished(world, job.id);
    expect(state).toBe('failed');
    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason).toMatch(/^spool_file_missing: /);
    expect(failed.failedReason).not.toContain(gone.file.split('.')[1]);
  });

  it("a forged payload naming another job's spool file cannot take it: it fails spool_file_not_bound and the file stays for its own job", async () => {
    const bytes = randomBytes(1000);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await writeFile(join(spool, 'raw-victim'), bytes);
    const victim = await spoolForJob(world.producer, spool, join(spool, 'raw-victim'), {
      target: sampleTarget('req-victim', 'mine.log'),
      source: { size: bytes.length, sha256 },
    });
    // The forger knows the name (the worst case) and enqueues through a trusted path.
    const forged = await world.producer.enqueue(
      'artifact.upload',
      {
        target: { kind: 'debug-bundle', validation_run_id: 'forger', filename: 'stolen.bin' },
        source: { type: 'spool', file: victim.file, size: bytes.length, sha256 },
      },
      { trusted: true },
    );
    await world.startWorker(['artifacts']);
    const { state, job: failed } = await finished(world, forged.id);
    expect(state).toBe('failed');
    expect(failed.failedReason).toMatch(/^spool_file_not_bound: /);
    expect(existsSync(join(spool, victim.file))).toBe(true);
    expect(
      await world.deps.artifacts.head('debug-bundle', 'debug/forger/stolen.bin'),
    ).toBeUndefined();
    // The file's own job still uploads it.
    const own = await world.producer.enqueue('artifact.upload', victim.payload, {
      trusted: true,
      jobId: victim.jobId,
    });
    expect((await finished(world, own.id)).state).toBe('completed');
    expect(
      await objectDigest(
        world.deps.s3,
        world.deps.artifacts.bucketFor('sample'),
        'samples/req-victim/mine.log',
      ),
    ).toEqual({ sha256, bytes: bytes.length });
  });

  it('a job finding other bytes under its key fails for good as artifact_exists and leaves the object as it was', async () => {
    const key = 'tas/req-w/v1/rev-1.tgz';
    const bucket = world.deps.artifacts.bucketFor('ta-bundle');
    const original = randomBytes(2000);
    await world.deps.s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: original,
        Metadata: { sha256: createHash('sha256').update(original).digest('hex') },
      }),
    );
    const other = randomBytes(2000);
    await writeFile(join(spool, 'raw-other'), other);
    const replacing = await spoolForJob(world.producer, spool, join(spool, 'raw-other'), {
      target: { kind: 'ta-bundle', request_id: 'req-w', revision_id: 'rev-1', version: 1 },
      source: { size: other.length, sha256: createHash('sha256').update(other).digest('hex') },
    });
    await world.startWorker(['artifacts']);
    const job = await world.producer.enqueue('artifact.upload', replacing.payload, {
      trusted: true,
      jobId: replacing.jobId,
    });
    const { state, job: failed } = await finished(world, job.id);
    expect(state).toBe('failed');
    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason).toMatch(/^artifact_exists: /);
    expect(await objectDigest(world.deps.s3, bucket, key)).toEqual({
      sha256: createHash('sha256').update(original).digest('hex'),
      bytes: original.length,
    });
  });

  it('a worker killed with SIGKILL mid-upload is resumed by another from its checkpoint', async () => {
    // The spawned workers create this world's hot-store schema; close() drops it again.
    await world.initStores();
    const size = 120 * MiB;
    const totalParts = size / PART;
    const sha256 = await writeRandomFile(join(spool, 'raw-120m'), size);
    let stderr = '';
    const worker = () => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'src/cli.ts', 'worker', '--queues', 'artifacts'],
        {
          env: {
            ...process.env,
            ...overrides,
            QUEUE_PREFIX: world.config.QUEUE_PREFIX,
            DATABASE_SCHEMA: world.config.DATABASE_SCHEMA,
            WORKER_LOCK_MS: '2000',
            UPLOAD_PART_SIZE_BYTES: String(PART),
            // One part at a time, so the kill lands between checkpoints.
            UPLOAD_QUEUE_SIZE: '1',
            LOG_LEVEL: 'warn',
          },
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      children.push(child);
      return child;
    };
    const first = worker();
    const huge = await spoolForJob(world.producer, spool, join(spool, 'raw-120m'), {
      target: sampleTarget('req-4', 'huge.log'),
      source: { size, sha256 },
    });
    const job = await world.producer.enqueue('artifact.upload', huge.payload, {
      trusted: true,
      jobId: huge.jobId,
    });
    const queue = world.queues.get('artifacts');
    const checkpointed = async () => {
      const j = await queue.getJob(job.id);
      const cp = (j?.data as Record<string, { parts?: unknown[] } | undefined>)[CHECKPOINT_KEY];
      return cp?.parts?.length ?? 0;
    };
    const atKill = await eventually(
      async () => {
        const n = await checkpointed();
        return n >= Math.ceil(totalParts * 0.4) ? n : undefined;
      },
      60_000,
      `40 % of the parts checkpointed (stderr: ${stderr})`,
    );
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    expect(atKill, 'the kill landed mid-upload').toBeLessThan(totalParts);
    expect(await queue.getJobState(job.id)).toBe('active');

    worker();
    const { state, job: done } = await finished(world, job.id, 60_000);
    expect(state, `${done.failedReason} ${stderr}`).toBe('completed');
    const result = done.returnvalue as { resumed_parts: number; sent_parts: number; parts: number };
    expect(result.parts).toBe(totalParts);
    expect(result.resumed_parts).toBeGreaterThanOrEqual(atKill);
    expect(result.sent_parts).toBe(totalParts - result.resumed_parts);
    expect(result.sent_parts).toBeLessThan(totalParts);

    const bucket = world.deps.artifacts.bucketFor('sample');
    expect(await objectDigest(world.deps.s3, bucket, 'samples/req-4/huge.log')).toEqual({
      sha256,
      bytes: size,
    });
    expect(await incompleteUploads(world.deps.s3, bucket)).toEqual([]);
    expect(existsSync(join(spool, huge.file))).toBe(false);
  }, 120_000);
});

describe('artifact.upload from a URL', () => {
  let overrides: Record<string, string>;
  let world: StowageWorld | undefined;
  let server: Server;
  let base: string;
  let requests: string[];
  const body = randomBytes(12 * MiB + 123);
  const bodySha = createHash('sha256').update(body).digest('hex');

  /** A world whose worker fetches with this allow-list, and resolves *.example.com to 127.0.0.1. */
  const start = async (allowlist: string, urlDeadlineMs?: number) => {
    world = new StowageWorld({
      ...overrides,
      UPLOAD_PART_SIZE_BYTES: String(PART),
      UPLOAD_QUEUE_SIZE: '2',
      URL_SOURCE_ALLOWLIST: allowlist,
    });
    await world.deps.artifacts.ensureBuckets();
    const w = world;
    await w.startWorker(['artifacts'], {
      ...(await createHandlers(JOB_TYPES, workerResourcesOf(w.deps))),
      'artifact.upload': createArtifactUploadHandler({
        artifacts: w.deps.artifacts,
        settings: {
          spoolDir: overrides.SPOOL_DIR!,
          maxBytes: w.config.ARTIFACT_MAX_BYTES,
          urlAllowlist: parseUrlAllowlist(allowlist),
          ...(urlDeadlineMs === undefined ? {} : { urlDeadlineMs }),
        },
        // As a public name whose DNS points inside (or is rebound there).
        resolveHost: (host) =>
          Promise.resolve(host.endsWith('.example.com') ? ['127.0.0.1'] : ['93.184.216.34']),
      }),
    });
    return w;
  };
  const upload = (w: StowageWorld, url: string, filename: string, sha256?: string) =>
    w.producer.enqueue('artifact.upload', {
      target: sampleTarget('req-url', filename),
      source: { type: 'url', url, ...(sha256 ? { sha256 } : {}) },
      content_type: 'application/gzip',
    });

  beforeEach(async () => {
    overrides = await artifactOverrides();
    requests = [];
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      if (req.url?.startsWith('/trickle')) {
        // One byte every 100 ms: never idle long enough for the idle timeout.
        res.writeHead(200, { 'content-length': 1_000_000 });
        const timer = setInterval(() => res.write('x'), 100);
        res.once('close', () => clearInterval(timer));
        return;
      }
      if (req.url === '/redirect') {
        res.writeHead(302, { location: `http://files.example.com:${port()}/file.bin` }).end();
        return;
      }
      if (req.url !== '/file.bin') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${port()}`;
  });
  const port = () => (server.address() as AddressInfo).port;
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    if (world) {
      const w = world;
      world = undefined;
      await w.close().finally(() => dropArtifacts(w.deps.s3, overrides));
    }
  });

  it('a host that is not listed is refused permanently, naming the host, without a request', async () => {
    const w = await start('files.example.org');
    const job = await upload(w, `${base}/file.bin`, 'a.bin');
    const { state, job: failed } = await finished(w, job.id);
    expect(state).toBe('failed');
    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason).toMatch(
      /^url_not_allowed: .*host 127\.0\.0\.1 .*not on URL_SOURCE_ALLOWLIST/,
    );
    expect(requests).toEqual([]);
  });

  it('with only *.example.com listed, 127.0.0.1 is refused, directly and behind a name that resolves to it', async () => {
    const w = await start('*.example.com');
    const direct = await upload(w, `${base}/file.bin`, 'b.bin');
    const named = await upload(w, `http://files.example.com:${port()}/file.bin`, 'c.bin');
    const a = await finished(w, direct.id);
    const b = await finished(w, named.id);
    expect(a.job.failedReason).toMatch(/^url_not_allowed: .*host 127\.0\.0\.1/);
    expect(b.job.failedReason).toMatch(
      /^url_not_allowed: .*files\.example\.com resolves to 127\.0\.0\.1, a loopback address/,
    );
    expect([a.job.attemptsMade, b.job.attemptsMade]).toEqual([1, 1]);
    expect(requests).toEqual([]);
  });

  it('an explicitly listed 127.0.0.1 is fetched; the digest is verified or computed and stored', async () => {
    const w = await start('127.0.0.1');
    const bucket = w.deps.artifacts.bucketFor('sample');
    const declared = await upload(w, `${base}/file.bin`, 'declared.bin', bodySha);
    const computed = await upload(w, `${base}/file.bin`, 'computed.bin');
    const wrong = await upload(w, `${base}/file.bin`, 'wrong.bin', 'b'.repeat(64));
    // A redirect is checked like the first hop: files.example.com is not listed.
    const redirected = await upload(w, `${base}/redirect`, 'redirected.bin');

    for (const [id, filename] of [
      [declared.id, 'declared.bin'],
      [computed.id, 'computed.bin'],
    ] as const) {
      const { state, job } = await finished(w, id);
      expect(state, job.failedReason).toBe('completed');
      expect(job.returnvalue).toMatchObject({ size: body.length, sha256: bodySha });
      const head = await w.deps.artifacts.head('sample', `samples/req-url/${filename}`);
      expect(head).toMatchObject({ size: body.length, sha256: bodySha });
      expect(await objectDigest(w.deps.s3, bucket, `samples/req-url/${filename}`)).toEqual({
        sha256: bodySha,
        bytes: body.length,
      });
    }
    // The self-copy that added the digest kept the content type.
    const { HeadObjectCommand } = await import('@aws-sdk/client-s3');
    const head = await w.deps.s3.send(
      new HeadObjectCommand({ Bucket: bucket, Key: 'samples/req-url/computed.bin' }),
    );
    expect(head.ContentType).toBe('application/gzip');

    const bad = await finished(w, wrong.id);
    expect(bad.state).toBe('failed');
    expect(bad.job.attemptsMade).toBe(1);
    expect(bad.job.failedReason).toMatch(/^checksum_mismatch: /);
    expect(await w.deps.artifacts.head('sample', 'samples/req-url/wrong.bin')).toBeUndefined();
    expect(await incompleteUploads(w.deps.s3, bucket)).toEqual([]);

    const hop = await finished(w, redirected.id);
    expect(hop.job.failedReason).toMatch(/^url_not_allowed: .*files\.example\.com/);
    expect(requests.filter((r) => r === '/redirect')).toHaveLength(1);
  });

  it('a source trickling bytes past URL_SOURCE_DEADLINE_MS fails the attempt as url_source_deadline and is retried', async () => {
    const w = await start('127.0.0.1', 1_500);
    const started = Date.now();
    const job = await upload(w, `${base}/trickle?X-Amz-Signature=abc`, 'slow.bin');
    const queue = w.queues.get('artifacts');
    const failed = await eventually(
      async () => {
        const j = await queue.getJob(job.id);
        return j?.failedReason ? j : undefined;
      },
      20_000,
      'the first attempt failed',
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(failed.failedReason).toMatch(
      /^URL source .*\/trickle did not finish within URL_SOURCE_DEADLINE_MS \(1500 ms\)/,
    );
    expect(failed.failedReason).not.toContain('X-Amz-Signature');
    // Transient: the job is kept for another attempt, not failed for good.
    expect(await queue.getJobState(job.id)).not.toBe('failed');
    expect(failed.attemptsMade).toBeGreaterThanOrEqual(1);
    expect(await w.deps.artifacts.head('sample', 'samples/req-url/slow.bin')).toBeUndefined();
    await queue.remove(job.id).catch(() => undefined);
  });
});
