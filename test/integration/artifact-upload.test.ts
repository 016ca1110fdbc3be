import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Job } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createArtifactUploadHandler } from '../../jobs/artifact-upload/handler.js';
import { createHandlers } from '../../jobs/handlers.js';
import { parseUrlAllowlist } from '../../src/domain/url-allowlist.js';
import { CHECKPOINT_KEY } from '../../workers/job-runner.js';
import {
  artifactOverrides,
  dropArtifacts,
  incompleteUploads,
  objectDigest,
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
    const sha256 = await writeRandomFile(join(spool, 'upload-40m'), 40 * MiB);
    await copyFile(join(spool, 'upload-40m'), join(spool, 'upload-40m-again'));
    await world.startWorker(['artifacts']);
    const bucket = world.deps.artifacts.bucketFor('sample');
    const target = sampleTarget('req-1', 'big.log');
    const job = await world.producer.enqueue('artifact.upload', {
      target,
      source: { type: 'spool', file: 'upload-40m', size: 40 * MiB, sha256 },
      content_type: 'text/plain',
      metadata: { collector: 'otx' },
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
    expect(existsSync(join(spool, 'upload-40m'))).toBe(false);

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
    const again = await world.producer.enqueue(
      'artifact.upload',
      { target, source: { type: 'spool', file: 'upload-40m-again', size: 40 * MiB, sha256 } },
      { idempotencyKey: 'rerun' },
    );
    expect(again.id).not.toBe(job.id);
    const rerun = await finished(world, again.id);
    expect(rerun.job.returnvalue).toEqual({
      key: 'samples/req-1/big.log',
      bucket,
      size: 40 * MiB,
      sha256,
      already_present: true,
    });
    expect(existsSync(join(spool, 'upload-40m-again'))).toBe(false);
    expect(await world.deps.artifacts.head('sample', 'samples/req-1/big.log')).toMatchObject({
      lastModified: head!.lastModified,
    });
  });

  it('a declared digest that does not match fails once, aborts the multipart upload and writes nothing', async () => {
    await writeRandomFile(join(spool, 'upload-bad'), 12 * MiB);
    await world.startWorker(['artifacts']);
    const job = await world.producer.enqueue('artifact.upload', {
      target: sampleTarget('req-2', 'bad.log'),
      source: {
        type: 'spool',
        file: 'upload-bad',
        size: 12 * MiB,
        sha256: createHash('sha256').update('something else').digest('hex'),
      },
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
    expect(existsSync(join(spool, 'upload-bad'))).toBe(true);
  });

  it('a missing spool file with no object fails permanently as spool_file_missing', async () => {
    await world.startWorker(['artifacts']);
    const job = await world.producer.enqueue('artifact.upload', {
      target: sampleTarget('req-3', 'gone.log'),
      source: { type: 'spool', file: 'never-written', size: 5, sha256: 'a'.repeat(64) },
    });
    const { state, job: failed } = await finished(world, job.id);
    expect(state).toBe('failed');
    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason).toMatch(/^spool_file_missing: .*never-written/);
  });

  it('a worker killed with SIGKILL mid-upload is resumed by another from its checkpoint', async () => {
    // The spawned workers create this world's hot-store schema; close() drops it again.
    await world.initStores();
    const size = 120 * MiB;
    const totalParts = size / PART;
    const sha256 = await writeRandomFile(join(spool, 'upload-120m'), size);
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
    const job = await world.producer.enqueue('artifact.upload', {
      target: sampleTarget('req-4', 'huge.log'),
      source: { type: 'spool', file: 'upload-120m', size, sha256 },
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
    expect(existsSync(join(spool, 'upload-120m'))).toBe(false);
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
  const start = async (allowlist: string) => {
    world = new StowageWorld({
      ...overrides,
      UPLOAD_PART_SIZE_BYTES: String(PART),
      URL_SOURCE_ALLOWLIST: allowlist,
    });
    await world.deps.artifacts.ensureBuckets();
    const w = world;
    await w.startWorker(['artifacts'], {
      ...createHandlers(w.deps),
      'artifact.upload': createArtifactUploadHandler({
        artifacts: w.deps.artifacts,
        s3: w.deps.s3,
        spoolDir: overrides.SPOOL_DIR!,
        partSize: PART,
        queueSize: 2,
        maxBytes: w.config.ARTIFACT_MAX_BYTES,
        urlAllowlist: parseUrlAllowlist(allowlist),
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
});
