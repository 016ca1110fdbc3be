// Artifacts are write-once (409, admin overwrite with a kept version and an audit row), spool
// sources come from the intake only, readers see no spool name or URL query, and the spool
// has a quota — against the real api, worker, PostgreSQL and Ceph RGW.
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { GetObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { artifactOverrides, dropArtifacts, objectDigest } from '../helpers/artifacts.js';
import { send } from '../helpers/raw-http.js';
import { StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const DASHBOARD = '/admin/queues';
const TA = { request_id: 'req-ta', revision_id: 'rev-1', version: '3' };
const TA_KEY = 'tas/req-ta/v3/rev-1.tgz';

interface Problem {
  status: number;
  code: string;
  errors?: { path: string; message: string }[];
}

describe('write-once artifacts, intake-only spool sources, redacted views, spool quota', () => {
  let world: StowageWorld | undefined;
  let overrides: Record<string, string>;
  afterEach(async () => {
    const w = world;
    world = undefined;
    if (w) await w.close().finally(() => dropArtifacts(w.deps.s3, overrides));
  });

  const start = async (extra: Record<string, string> = {}, worker = true) => {
    overrides = await artifactOverrides();
    world = new StowageWorld({ ...overrides, ...extra });
    // Buckets (TA and debug versioned) and the audit table, as `stowage init` makes them.
    await world.initStores();
    const base = await world.startApi();
    if (worker) await world.startWorker(['artifacts']);
    return { w: world, base };
  };
  const uploadTa = (
    base: string,
    body: Buffer,
    options: { key?: string; headers?: Record<string, string> } = {},
  ) =>
    send(base, {
      method: 'POST',
      path: `/v1/artifacts/ta-bundle?${new URLSearchParams(TA).toString()}`,
      headers: {
        ...bearer(options.key ?? TEST_KEYS.artifacts),
        'content-type': 'application/gzip',
        ...options.headers,
      },
      body,
    });
  const settled = (w: StowageWorld, id: string) =>
    eventually(
      async () => {
        const state = await w.queues.get('artifacts').getJobState(id);
        return state === 'completed' || state === 'failed' ? state : undefined;
      },
      30_000,
      `job ${id} settled`,
    );

  it('a second upload of other bytes to a TA bundle key is a 409 and the object stays; an admin overwrite replaces it, keeps the old version and writes an audit row', async () => {
    const { w, base } = await start();
    const bucket = w.deps.artifacts.bucketFor('ta-bundle');
    const first = randomBytes(50_000);
    const accepted = await uploadTa(base, first);
    expect(accepted.status).toBe(202);
    expect(await settled(w, (accepted.json as { id: string }).id)).toBe('completed');

    const other = randomBytes(50_000);
    // Known before the body: the declared digest differs from the object's.
    const declared = await uploadTa(base, other, {
      headers: { 'x-content-sha256': sha256(other) },
    });
    expect(declared.status).toBe(409);
    expect(declared.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(declared.json).toMatchObject({ code: 'artifact_exists', errors: [{ path: 'key' }] });
    // Known once the body is hashed: refused all the same, and nothing stays spooled.
    const undeclared = await uploadTa(base, other);
    expect(undeclared.status).toBe(409);
    expect((undeclared.json as Problem).code).toBe('artifact_exists');
    expect(await readdir(overrides.SPOOL_DIR!)).toEqual([]);
    // Only an admin key may overwrite.
    const notAdmin = await uploadTa(base, other, { headers: { 'x-artifact-overwrite': 'true' } });
    expect(notAdmin.status).toBe(403);
    expect((notAdmin.json as Problem).errors?.map((e) => e.path)).toEqual(['X-Artifact-Overwrite']);
    // The same bytes again are fine (idempotent), and the object never changed.
    expect((await uploadTa(base, first)).status).toBe(202);
    expect(await objectDigest(w.deps.s3, bucket, TA_KEY)).toEqual({
      sha256: sha256(first),
      bytes: first.length,
    });
    const before = await w.deps.artifacts.head('ta-bundle', TA_KEY);
    expect(before?.versionId).toBeTruthy();

    const replaced = await uploadTa(base, other, {
      key: TEST_KEYS.admin,
      headers: { 'x-artifact-overwrite': 'true' },
    });
    expect(replaced.status).toBe(202);
    expect(await settled(w, (replaced.json as { id: string }).id)).toBe('completed');
    expect(await objectDigest(w.deps.s3, bucket, TA_KEY)).toEqual({
      sha256: sha256(other),
      bytes: other.length,
    });
    // The replaced bytes are still there, as the older version.
    const versions = await w.deps.s3.send(
      new ListObjectVersionsCommand({ Bucket: bucket, Prefix: TA_KEY }),
    );
    expect(versions.Versions?.map((v) => v.VersionId)).toContain(before!.versionId);
    const old = await w.deps.s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: TA_KEY, VersionId: before!.versionId! }),
    );
    expect(sha256(Buffer.from(await old.Body!.transformToByteArray()))).toBe(sha256(first));
    const after = await w.deps.artifacts.head('ta-bundle', TA_KEY);
    const audit = await w.deps.artifactAudit.forKey(bucket, TA_KEY);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      job_id: (replaced.json as { id: string }).id,
      bucket,
      key: TA_KEY,
      old_sha256: sha256(first),
      old_version_id: before!.versionId,
      new_sha256: sha256(other),
      new_version_id: after!.versionId,
      api_key: 'admin-client',
    });
    expect(audit[0]!.replaced_at).toBeInstanceOf(Date);
  });

  it('the generic route refuses a spool source and an overwrite, one job or bulk, naming the field, whatever the key', async () => {
    const { base, w } = await start({}, false);
    const spool = {
      target: { kind: 'sample', request_id: 'r', filename: 'f.log' },
      source: {
        type: 'spool',
        file: `k${'0'.repeat(40)}.${'a'.repeat(32)}`,
        size: 1,
        sha256: 'a'.repeat(64),
      },
    };
    const post = (path: string, body: unknown, key: string) =>
      send(base, {
        method: 'POST',
        path,
        headers: { ...bearer(key), 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    for (const key of [TEST_KEYS.artifacts, TEST_KEYS.admin]) {
      const one = await post('/v1/jobs/artifact.upload', spool, key);
      expect(one.status).toBe(400);
      expect((one.json as Problem).errors?.map((e) => e.path)).toEqual(['source.type']);
      const bulk = await post('/v1/jobs/artifact.upload/bulk', { payloads: [spool] }, key);
      expect(bulk.status).toBe(400);
      expect((bulk.json as Problem).errors?.map((e) => e.path)).toEqual(['payloads.0.source.type']);
    }
    const overwrite = await post(
      '/v1/jobs/artifact.upload',
      {
        target: { kind: 'sample', request_id: 'r', filename: 'f.log' },
        source: { type: 'url', url: 'https://files.example.com/f.log' },
        overwrite: { api_key: 'admin-client' },
      },
      TEST_KEYS.admin,
    );
    expect(overwrite.status).toBe(400);
    expect((overwrite.json as Problem).errors?.map((e) => e.path)).toEqual(['overwrite']);
    expect(await w.queues.get('artifacts').getJobCounts('waiting', 'prioritized')).toEqual({
      waiting: 0,
      prioritized: 0,
    });
  });

  it('a read key sees no spool file name and no URL query string, in job status or the dashboard', async () => {
    // No worker: the jobs stay queued (prioritized: artifacts is a fair queue), with their
    // payloads, for the reader to look at.
    const { w, base } = await start({}, false);
    const spooled = await uploadTa(base, randomBytes(1000));
    expect(spooled.status).toBe(202);
    const spoolJob = (spooled.json as { id: string }).id;
    const [file] = await readdir(overrides.SPOOL_DIR!);
    expect(file).toMatch(/^[A-Za-z0-9_-]+\.[0-9a-f]{32}$/);
    const stored = await w.queues.get('artifacts').getJob(spoolJob);
    expect((stored?.data as { source: { file: string } }).source.file).toBe(file);

    const signed =
      'https://files.example.com/drop/sample.bin?X-Amz-Signature=deadbeefcafe&X-Amz-Credential=AKIAEXAMPLE#frag';
    const byUrl = await send(base, {
      method: 'POST',
      path: '/v1/jobs/artifact.upload',
      headers: { ...bearer(TEST_KEYS.artifacts), 'content-type': 'application/json' },
      body: JSON.stringify({
        target: { kind: 'sample', request_id: 'r-url', filename: 'sample.bin' },
        source: { type: 'url', url: signed },
        metadata: { 'api-token': 'tok-123456' },
      }),
    });
    expect(byUrl.status).toBe(202);
    const urlJob = (byUrl.json as { id: string }).id;

    const hidden = [file!.split('.')[1]!, 'deadbeefcafe', 'AKIAEXAMPLE', 'frag', 'tok-123456'];
    const status = await send(base, {
      method: 'GET',
      path: `/v1/jobs/${urlJob}`,
      headers: bearer(TEST_KEYS.read),
    });
    expect(status.status).toBe(200);
    expect((status.json as { payload: { source: { url: string } } }).payload.source.url).toBe(
      'https://files.example.com/drop/sample.bin?[redacted]',
    );
    const views = [
      status,
      await send(base, {
        method: 'GET',
        path: `/v1/jobs/${spoolJob}`,
        headers: bearer(TEST_KEYS.read),
      }),
      await send(base, {
        method: 'GET',
        path: `${DASHBOARD}/api/queues?activeQueue=artifacts&status=prioritized&page=1`,
        headers: bearer(TEST_KEYS.read),
      }),
      await send(base, {
        method: 'GET',
        path: `${DASHBOARD}/api/queues/artifacts/${spoolJob}`,
        headers: bearer(TEST_KEYS.read),
      }),
      await send(base, {
        method: 'GET',
        path: `${DASHBOARD}/api/queues/artifacts/${urlJob}`,
        headers: bearer(TEST_KEYS.read),
      }),
    ];
    for (const view of views) {
      expect(view.status).toBe(200);
      const text = view.body.toString();
      // Each view does show the job: the redaction is not an empty answer.
      expect(text).toMatch(/files\.example\.com\/drop\/sample\.bin|"type":"spool"/);
      for (const secret of hidden) expect(text).not.toContain(secret);
    }
  });

  it('over SPOOL_MAX_BYTES an upload is a 507 whether announced or not, and leaves nothing behind', async () => {
    const { w, base } = await start({ SPOOL_MAX_BYTES: '100000' }, false);
    const announced = await uploadTa(base, randomBytes(150_000));
    expect(announced.status).toBe(507);
    expect(announced.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect((announced.json as Problem).code).toBe('insufficient_storage');
    // Chunked, without a length: stopped once past the quota while streaming.
    const chunked = await fetch(
      `${base}/v1/artifacts/ta-bundle?${new URLSearchParams(TA).toString()}`,
      {
        method: 'POST',
        headers: { ...bearer(TEST_KEYS.artifacts), 'content-type': 'application/gzip' },
        body: new ReadableStream({
          start(controller) {
            for (let i = 0; i < 15; i++) controller.enqueue(new Uint8Array(10_000));
            controller.close();
          },
        }),
        duplex: 'half',
      },
    );
    expect(chunked.status).toBe(507);
    expect(await readdir(overrides.SPOOL_DIR!)).toEqual([]);
    expect(await w.queues.get('artifacts').getJobCounts('waiting', 'prioritized')).toEqual({
      waiting: 0,
      prioritized: 0,
    });
    // What fits is accepted: the refusals held no room.
    expect((await uploadTa(base, randomBytes(90_000))).status).toBe(202);
  });
});
