// An upload whose size and digest are declared is sent to S3 part by part while the
// request arrives; the job completes those parts. Against the real api, worker, spool and
// Ceph RGW: parts land during the request, a failed or cut request leaves nothing, a killed
// api leaves nothing after uploads.abort-stale, and a job whose parts are gone uploads
// from the spool file.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readdir, utimes } from 'node:fs/promises';
import { request, type ClientRequest } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand,
  ListPartsCommand,
  type MultipartUpload,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Job } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  artifactOverrides,
  dropArtifacts,
  incompleteUploads,
  objectDigest,
} from '../helpers/artifacts.js';
import { StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;

/** A body of random bytes and its SHA-256. */
function randomBody(bytes: number): { body: Buffer; sha256: string } {
  const body = randomBytes(bytes);
  return { body, sha256: createHash('sha256').update(body).digest('hex') };
}

/** A raw upload sent by hand, so that a test decides when (and whether) its body ends. */
function openUpload(
  base: string,
  query: Record<string, string>,
  headers: { size: number; sha256: string },
  options: { kind?: string; key?: string; headers?: Record<string, string> } = {},
): { req: ClientRequest; answer: Promise<{ status: number; body: Record<string, unknown> }> } {
  const path = `/v1/artifacts/${options.kind ?? 'sample'}?${new URLSearchParams(query).toString()}`;
  const req = request(`${base}${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${options.key ?? TEST_KEYS.artifacts}`,
      'content-type': 'application/octet-stream',
      'content-length': headers.size,
      'x-content-sha256': headers.sha256,
      ...options.headers,
    },
  });
  const answer = new Promise<{ status: number; body: Record<string, unknown> }>(
    (resolve, reject) => {
      req.on('response', (res) => {
        let data = '';
        res.on('data', (d: Buffer) => (data += d.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(data || '{}') as never }),
        );
      });
      req.on('error', reject);
    },
  );
  return { req, answer };
}

/** Writes bytes to a request, waiting for it to drain. */
async function send(req: ClientRequest, bytes: Buffer): Promise<void> {
  if (!req.write(bytes)) await new Promise((resolve) => req.once('drain', resolve));
}

/** The multipart uploads of a bucket holding at least `parts` parts. */
async function uploadWithParts(
  s3: S3Client,
  bucket: string,
  parts: number,
): Promise<MultipartUpload> {
  return eventually(
    async () => {
      for (const upload of await incompleteUploads(s3, bucket)) {
        const listed = await s3.send(
          new ListPartsCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId }),
        );
        if ((listed.Parts ?? []).length >= parts) return upload;
      }
      return undefined;
    },
    30_000,
    `a multipart upload with ${parts} parts in ${bucket}`,
  );
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('parts sent while the request arrives', () => {
  let overrides: Record<string, string>;
  let world: StowageWorld;
  let spool: string;
  let bucket: string;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    overrides = {
      ...(await artifactOverrides()),
      ARTIFACT_MAX_BYTES: String(64 * MiB),
      UPLOAD_PART_SIZE_BYTES: String(PART),
      UPLOAD_QUEUE_SIZE: '2',
    };
    spool = overrides.SPOOL_DIR!;
    world = new StowageWorld(overrides);
    await world.deps.artifacts.ensureBuckets();
    bucket = world.deps.artifacts.bucketFor('sample');
  });
  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    await world.close().finally(() => dropArtifacts(world.deps.s3, overrides));
  });

  const finished = async (id: string) => {
    const queue = world.queues.get('artifacts');
    const state = await eventually(
      async () => {
        const s = await queue.getJobState(id);
        return s === 'completed' || s === 'failed' ? s : undefined;
      },
      60_000,
      `job ${id} finished`,
    );
    return { state, job: (await Job.fromId(queue, id))! };
  };

  it('sends parts before the body ends; the job completes them without sending any, and the object verifies', async () => {
    const base = await world.startApi();
    await world.startWorker(['artifacts']);
    const size = 3 * PART + 1234;
    const { body, sha256 } = randomBody(size);
    const requestId = randomUUID();
    const { req, answer } = openUpload(
      base,
      { request_id: requestId, filename: 'streamed.bin' },
      { size, sha256 },
    );
    await send(req, body.subarray(0, 2 * PART + 10));
    // Two whole parts are in S3 while the request is still open.
    const during = await uploadWithParts(world.deps.s3, bucket, 2);
    expect(during.Key).toBe(`samples/${requestId}/streamed.bin`);
    req.end(body.subarray(2 * PART + 10));
    const accepted = await answer;
    expect(accepted.status).toBe(202);
    expect(accepted.body).toMatchObject({ size, sha256 });

    const { state, job } = await finished(accepted.body.id as string);
    expect(state, job.failedReason).toBe('completed');
    expect(job.returnvalue).toMatchObject({
      size,
      sha256,
      parts: 4,
      resumed_parts: 4,
      sent_parts: 0,
    });
    const key = `samples/${requestId}/streamed.bin`;
    expect(await objectDigest(world.deps.s3, bucket, key)).toEqual({ sha256, bytes: size });
    expect(await world.deps.artifacts.head('sample', key)).toMatchObject({
      size,
      sha256,
      metadata: { sha256, size: String(size), 'stowage-job-id': job.id },
    });
    expect(await incompleteUploads(world.deps.s3, bucket)).toEqual([]);
    expect(await readdir(spool)).toEqual([]);
  });

  it('a cut request and a wrong digest each leave no object, no multipart upload, no spool file and no job', async () => {
    const base = await world.startApi();
    const size = 3 * PART;
    const { body, sha256 } = randomBody(size);

    const cut = openUpload(
      base,
      { request_id: randomUUID(), filename: 'cut.bin' },
      { size, sha256 },
    );
    cut.answer.catch(() => undefined);
    await send(cut.req, body.subarray(0, 2 * PART + 1));
    await uploadWithParts(world.deps.s3, bucket, 1);
    cut.req.destroy();
    await eventually(
      async () =>
        (await incompleteUploads(world.deps.s3, bucket)).length === 0 &&
        (await readdir(spool)).length === 0
          ? true
          : undefined,
      30_000,
      'the cut upload removed',
    );

    const wrong = openUpload(
      base,
      { request_id: randomUUID(), filename: 'wrong.bin' },
      { size, sha256: sha256.replace(/^./, (c) => (c === '0' ? '1' : '0')) },
    );
    wrong.req.end(body);
    const refused = await wrong.answer;
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ code: 'checksum_mismatch' });
    expect(await incompleteUploads(world.deps.s3, bucket)).toEqual([]);
    expect(await readdir(spool)).toEqual([]);
    expect(
      await world.queues
        .get('artifacts')
        .getJobs(['waiting', 'prioritized', 'active', 'completed', 'failed']),
    ).toEqual([]);
    const stats = await world.deps.artifacts.stats();
    expect(stats.sample.objects).toBe(0);
  });

  it('write-once holds: another digest is a 409 before any part is sent; an admin overwrite under an Idempotency-Key completes its streamed parts after the audit row', async () => {
    await world.initStores();
    const base = await world.startApi();
    await world.startWorker(['artifacts']);
    const ta = { request_id: 'req-ta', revision_id: 'rev-1', version: '3' };
    const taKey = 'tas/req-ta/v3/rev-1.tgz';
    const taBucket = world.deps.artifacts.bucketFor('ta-bundle');
    const size = PART + 777;
    const first = randomBody(size);
    const upload = (
      body: { body: Buffer; sha256: string },
      options: { key?: string; headers?: Record<string, string> } = {},
    ) => {
      const open = openUpload(
        base,
        ta,
        { size, sha256: body.sha256 },
        { kind: 'ta-bundle', ...options },
      );
      open.req.end(body.body);
      return open.answer;
    };
    const stored = await upload(first);
    expect(stored.status).toBe(202);
    expect((await finished(stored.body.id as string)).state).toBe('completed');
    const before = await world.deps.artifacts.head('ta-bundle', taKey);

    const other = randomBody(size);
    const refused = await upload(other);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'artifact_exists' });
    expect(await incompleteUploads(world.deps.s3, taBucket)).toEqual([]);

    const replaced = await upload(other, {
      key: TEST_KEYS.admin,
      headers: { 'x-artifact-overwrite': 'true', 'idempotency-key': 'replace-ta-1' },
    });
    expect(replaced.status).toBe(202);
    const { state, job } = await finished(replaced.body.id as string);
    expect(state, job.failedReason).toBe('completed');
    // The parts sent during the request were the job's own: none was sent again.
    expect(job.returnvalue).toMatchObject({ parts: 2, resumed_parts: 2, sent_parts: 0 });
    expect(await objectDigest(world.deps.s3, taBucket, taKey)).toEqual({
      sha256: other.sha256,
      bytes: size,
    });
    const after = await world.deps.artifacts.head('ta-bundle', taKey);
    expect(after?.metadata['stowage-job-id']).toBe(job.id);
    const audit = await world.deps.artifactAudit.forKey(taBucket, taKey);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      job_id: job.id,
      old_sha256: first.sha256,
      old_version_id: before!.versionId,
      new_sha256: other.sha256,
      new_version_id: after!.versionId,
      api_key: 'admin-client',
    });
    expect(await incompleteUploads(world.deps.s3, taBucket)).toEqual([]);
    expect(await readdir(spool)).toEqual([]);
  });

  it('a job whose parts were aborted meanwhile uploads from the spool file instead', async () => {
    const base = await world.startApi();
    const size = 2 * PART + 99;
    const { body, sha256 } = randomBody(size);
    const requestId = randomUUID();
    const { req, answer } = openUpload(
      base,
      { request_id: requestId, filename: 'gone.bin' },
      { size, sha256 },
    );
    req.end(body);
    const accepted = await answer;
    expect(accepted.status).toBe(202);
    // uploads.abort-stale (or anyone) aborts the intake's upload before a worker takes the job.
    const [upload] = await incompleteUploads(world.deps.s3, bucket);
    expect(upload).toBeDefined();
    await world.deps.s3.send(
      new AbortMultipartUploadCommand({
        Bucket: bucket,
        Key: upload!.Key,
        UploadId: upload!.UploadId,
      }),
    );
    await world.startWorker(['artifacts']);
    const { state, job } = await finished(accepted.body.id as string);
    expect(state, job.failedReason).toBe('completed');
    expect(job.returnvalue).toMatchObject({ size, sha256, parts: 3, sent_parts: 3 });
    const key = `samples/${requestId}/gone.bin`;
    expect(await objectDigest(world.deps.s3, bucket, key)).toEqual({ sha256, bytes: size });
    expect(await incompleteUploads(world.deps.s3, bucket)).toEqual([]);
    expect(await readdir(spool)).toEqual([]);
  });

  it('an api killed mid-request leaves nothing behind once uploads.abort-stale has run', async () => {
    await world.initStores();
    const port = await freePort();
    const api = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'api'], {
      env: {
        ...process.env,
        ...overrides,
        API_PORT: String(port),
        QUEUE_PREFIX: world.config.QUEUE_PREFIX,
        DATABASE_SCHEMA: world.config.DATABASE_SCHEMA,
        API_KEYS: Object.entries(TEST_KEYS)
          .map(([scope, secret]) => `${scope}-client:${secret}:${scope}`)
          .join(','),
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    api.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    children.push(api);
    const base = `http://127.0.0.1:${port}`;
    await eventually(
      async () => ((await fetch(`${base}/health`).catch(() => undefined))?.ok ? true : undefined),
      60_000,
      `the api up (stderr: ${stderr})`,
    );
    const size = 4 * PART;
    const { body, sha256 } = randomBody(size);
    const { req, answer } = openUpload(
      base,
      { request_id: randomUUID(), filename: 'killed.bin' },
      { size, sha256 },
    );
    answer.catch(() => undefined);
    await send(req, body.subarray(0, 2 * PART + 5));
    await uploadWithParts(world.deps.s3, bucket, 2);
    api.kill('SIGKILL');
    await new Promise((resolve) => api.once('exit', resolve));
    req.destroy();
    expect(await incompleteUploads(world.deps.s3, bucket)).toHaveLength(1);
    const left = await readdir(spool);
    expect(left).toHaveLength(1);
    // Past the spool's grace period, as the sweep would find it later.
    const hourAgo = new Date(Date.now() - 3_600_000);
    await utimes(join(spool, left[0]!), hourAgo, hourAgo);

    await world.startWorker(['maintenance']);
    // Uploads cannot be backdated: age it for real, past the 1 s limit below.
    await sleep(2_500);
    const { id } = await world.producer.enqueue('uploads.abort-stale', { older_than_seconds: 1 });
    const queue = world.queues.get('maintenance');
    await eventually(
      async () => ((await queue.getJobState(id)) === 'completed' ? true : undefined),
      30_000,
      'uploads.abort-stale done',
    );
    expect(await incompleteUploads(world.deps.s3, bucket)).toEqual([]);
    expect(await readdir(spool)).toEqual([]);
    expect((await world.deps.artifacts.stats()).sample.objects).toBe(0);
  }, 120_000);
});
