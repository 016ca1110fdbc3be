import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { removeBucket } from '../helpers/buckets.js';
import { StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';

const MiB = 1024 * 1024;
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const auth = (key: string = TEST_KEYS.artifacts) => ({ authorization: `Bearer ${key}` });

interface Problem {
  status: number;
  code: string;
  errors?: { path: string; message: string }[];
}
interface Accepted {
  id: string;
  type: string;
  key: string;
  bucket: string;
  size: number;
  sha256: string;
  content_type: string;
  replayed: boolean;
  status_url: string;
}

/** A body of `total` bytes sent in 64 KiB chunks without a Content-Length (chunked). */
function chunked(total: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) {
        controller.close();
        return;
      }
      const n = Math.min(64 * 1024, total - sent);
      controller.enqueue(new Uint8Array(n).fill(sent % 251));
      sent += n;
    },
  });
}

/** Random bucket names, so that each world has its own three buckets. */
function randomBuckets() {
  const id = randomBytes(4).toString('hex');
  return {
    ARTIFACT_BUCKET_SAMPLES: `t-${id}-samples`,
    ARTIFACT_BUCKET_TA_BUNDLES: `t-${id}-tas`,
    ARTIFACT_BUCKET_DEBUG_BUNDLES: `t-${id}-debug`,
  };
}

/** Empties and deletes a world's buckets (those that exist). */
async function dropBuckets(world: StowageWorld, buckets: Record<string, string>): Promise<void> {
  for (const bucket of Object.values(buckets)) {
    await removeBucket(world.deps.s3, bucket).catch((err: unknown) => {
      if ((err as { name?: string }).name !== 'NoSuchBucket') throw err;
    });
  }
}

describe('artifact upload API', () => {
  let world: StowageWorld;
  let base: string;
  let spoolDir: string;
  let buckets: Record<string, string>;

  beforeEach(async () => {
    spoolDir = await mkdtemp(join(tmpdir(), 'stowage-artifact-api-'));
    buckets = randomBuckets();
    world = new StowageWorld({
      SPOOL_DIR: spoolDir,
      ARTIFACT_MAX_BYTES: String(MiB),
      PRESIGN_MAX_SECONDS: '7200',
      ...buckets,
    });
    base = await world.startApi();
  });
  afterEach(async () => {
    await world.close();
    await rm(spoolDir, { recursive: true, force: true });
  });

  const upload = (
    kind: string,
    query: Record<string, string>,
    body: RequestInit['body'],
    headers: Record<string, string> = {},
  ) =>
    fetch(`${base}/v1/artifacts/${kind}?${new URLSearchParams(query).toString()}`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/octet-stream', ...headers },
      body,
      duplex: 'half',
    } as RequestInit);
  const form = (kind: string, data: FormData, headers: Record<string, string> = {}) =>
    fetch(`${base}/v1/artifacts/${kind}`, {
      method: 'POST',
      headers: { ...auth(), ...headers },
      body: data,
    });
  const spooled = async () => (await readdir(spoolDir).catch(() => [])).sort();
  const jobs = () =>
    world.queues
      .get('artifacts')
      .getJobs(['waiting', 'prioritized', 'active', 'completed', 'failed', 'delayed']);
  const problem = async (res: Response) => {
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    return (await res.json()) as Problem;
  };
  /** A refused upload leaves nothing behind: no job, no spool file (partial or whole). */
  const nothingLeft = async () => {
    expect(await jobs()).toEqual([]);
    expect(await spooled()).toEqual([]);
  };

  it('a raw upload is spooled and enqueued as artifact.upload, answering 202 with the sample key', async () => {
    const bytes = Buffer.from('2026-01-01T00:00:00Z host=a msg="hello"\n'.repeat(100));
    const res = await upload('sample', { request_id: 'req-1', filename: 'auth.log' }, bytes, {
      'content-type': 'text/plain; charset=utf-8',
      'x-artifact-meta-origin': 'otx',
    });
    expect(res.status).toBe(202);
    const body = (await res.json()) as Accepted;
    expect(body).toMatchObject({
      type: 'artifact.upload',
      key: 'samples/req-1/auth.log',
      bucket: buckets.ARTIFACT_BUCKET_SAMPLES,
      size: bytes.length,
      sha256: sha256(bytes),
      content_type: 'text/plain; charset=utf-8',
      replayed: false,
      status_url: `/v1/jobs/${body.id}`,
    });
    expect(res.headers.get('location')).toBe(`/v1/jobs/${body.id}`);

    const job = await world.queues.get('artifacts').getJob(body.id);
    expect(job?.name).toBe('artifact.upload');
    const [file] = await spooled();
    expect(job?.data).toEqual({
      target: { kind: 'sample', request_id: 'req-1', filename: 'auth.log' },
      source: { type: 'spool', file, size: bytes.length, sha256: sha256(bytes) },
      content_type: 'text/plain; charset=utf-8',
      metadata: { origin: 'otx' },
      $meta: {
        enqueued_by: 'artifacts-client',
        tenant: 'artifacts-client',
        tags: ['artifact:samples/req-1/auth.log', 'request:req-1'],
      },
    });
    expect(await readFile(join(spoolDir, file!))).toEqual(bytes);
  });

  it('a multipart upload takes the ids from fields before the file and the filename from the part', async () => {
    const bytes = randomBytes(200_000);
    const data = new FormData();
    data.append('request_id', 'req-2');
    data.append('meta.user-id', 'u-7');
    data.append('file', new Blob([bytes], { type: 'application/gzip' }), 'sample.log.gz');
    const res = await form('sample', data, { 'x-content-sha256': sha256(bytes) });
    expect(res.status).toBe(202);
    const body = (await res.json()) as Accepted;
    expect(body).toMatchObject({
      key: 'samples/req-2/sample.log.gz',
      size: bytes.length,
      sha256: sha256(bytes),
      content_type: 'application/gzip',
    });
    const job = await world.queues.get('artifacts').getJob(body.id);
    const [file] = await spooled();
    expect(job?.data).toEqual({
      target: { kind: 'sample', request_id: 'req-2', filename: 'sample.log.gz' },
      source: { type: 'spool', file, size: bytes.length, sha256: sha256(bytes) },
      content_type: 'application/gzip',
      metadata: { 'user-id': 'u-7' },
      $meta: {
        enqueued_by: 'artifacts-client',
        tenant: 'artifacts-client',
        tags: ['artifact:samples/req-2/sample.log.gz', 'request:req-2'],
      },
    });
    expect(await readFile(join(spoolDir, file!))).toEqual(bytes);
  });

  it('a filename field wins over the name of the file part', async () => {
    const data = new FormData();
    data.append('validation_run_id', 'run-9');
    data.append('filename', 'diag.zip');
    data.append('file', new Blob(['zip bytes']), 'C:\\Users\\x\\upload.bin');
    const res = await form('debug-bundle', data);
    expect(res.status).toBe(202);
    expect(((await res.json()) as Accepted).key).toBe('debug/run-9/diag.zip');
  });

  it('a TA bundle goes to tas/{request_id}/v{version}/{revision_id}.tgz in its own bucket', async () => {
    const res = await upload(
      'ta-bundle',
      { request_id: 'req-3', revision_id: 'rev-a', version: '3' },
      Buffer.from('tgz'),
      { 'content-type': 'application/gzip' },
    );
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({
      key: 'tas/req-3/v3/rev-a.tgz',
      bucket: buckets.ARTIFACT_BUCKET_TA_BUNDLES,
    });
    const multipart = new FormData();
    multipart.append('request_id', 'req-3');
    multipart.append('revision_id', 'rev-b');
    multipart.append('version', '4');
    multipart.append('file', new Blob(['tgz']), 'whatever.tgz');
    const res2 = await form('ta-bundle', multipart);
    const body2 = (await res2.json()) as Accepted;
    expect(body2.key, JSON.stringify(body2)).toBe('tas/req-3/v4/rev-b.tgz');
  });

  it('a body sent as application/json is an artifact like any other, not a JSON request', async () => {
    const res = await upload(
      'debug-bundle',
      { validation_run_id: 'run-1', filename: 'report.json' },
      '{"not": "parsed"',
      { 'content-type': 'application/json' },
    );
    expect(res.status).toBe(202);
    expect(((await res.json()) as Accepted).content_type).toBe('application/json');
  });

  it('an unsafe filename is a 400 naming filename, before the body is read', async () => {
    for (const filename of ['../x', '/etc/passwd', 'a\u0001b', 'é'.repeat(128), 'x'.repeat(256)]) {
      const res = await upload('sample', { request_id: 'req-1', filename }, Buffer.from('data'));
      expect(res.status, JSON.stringify(filename)).toBe(400);
      expect((await problem(res)).errors?.map((e) => e.path)).toEqual(['filename']);

      // In a multipart body the name travels percent-encoded (filename*), so that a control
      // character reaches the check instead of breaking the part header.
      const viaForm = await fetch(`${base}/v1/artifacts/sample`, {
        method: 'POST',
        headers: { ...auth(), 'content-type': 'multipart/form-data; boundary=b0undary' },
        body: [
          '--b0undary',
          'Content-Disposition: form-data; name="request_id"',
          '',
          'req-1',
          '--b0undary',
          `Content-Disposition: form-data; name="file"; filename*=utf-8''${encodeURIComponent(filename)}`,
          'Content-Type: text/plain',
          '',
          'data',
          '--b0undary--',
          '',
        ].join('\r\n'),
      });
      expect(viaForm.status, `multipart ${JSON.stringify(filename)}`).toBe(400);
      expect((await problem(viaForm)).errors?.map((e) => e.path)).toEqual(['filename']);
    }
    // FormData sends a control character raw, which no part header may hold: still a 400.
    const raw = new FormData();
    raw.append('request_id', 'req-1');
    raw.append('file', new Blob(['data']), 'a\u0001b');
    expect((await form('sample', raw)).status).toBe(400);
    await nothingLeft();
  });

  it('missing or malformed ids are 400s naming each field', async () => {
    const res = await upload('ta-bundle', { request_id: 'a/b', version: '0' }, Buffer.from('x'));
    expect(res.status).toBe(400);
    expect((await problem(res)).errors?.map((e) => e.path).sort()).toEqual([
      'request_id',
      'revision_id',
      'version',
    ]);
    const meta = await upload('sample', { request_id: 'r', filename: 'f' }, Buffer.from('x'), {
      'x-artifact-meta-bad_name': 'v',
    });
    expect(meta.status).toBe(400);
    expect((await problem(meta)).errors?.map((e) => e.path)).toEqual(['X-Artifact-Meta-bad_name']);
    await nothingLeft();
  });

  it('a Content-Length over ARTIFACT_MAX_BYTES is a 413 at once', async () => {
    const res = await upload('sample', { request_id: 'r', filename: 'big' }, Buffer.alloc(MiB + 1));
    expect(res.status).toBe(413);
    expect((await problem(res)).errors?.map((e) => e.path)).toEqual(['Content-Length']);
    await nothingLeft();
  });

  it('a chunked body past ARTIFACT_MAX_BYTES is a 413 while streaming, and the partial file is removed', async () => {
    const res = await upload('sample', { request_id: 'r', filename: 'big' }, chunked(3 * MiB));
    expect(res.status).toBe(413);
    expect((await problem(res)).code).toBe('payload_too_large');
    await nothingLeft();
  });

  it('a multipart file past ARTIFACT_MAX_BYTES is a 413, and the partial file is removed', async () => {
    const data = new FormData();
    data.append('request_id', 'r');
    data.append('file', new Blob([Buffer.alloc(MiB + 1)]), 'big.log');
    const res = await form('sample', data);
    expect(res.status).toBe(413);
    await nothingLeft();
  });

  it.each([
    ['refused while streaming', {}],
    ['refused by its Content-Length', { 'content-length': String(10 * 1024 * MiB) }],
  ])(
    'an upload %s that keeps sending is cut off after a moment, not read forever',
    async (_, length) => {
      const url = new URL(`${base}/v1/artifacts/sample?request_id=r&filename=endless`);
      const req = request(url, {
        method: 'POST',
        headers: { ...auth(), 'content-type': 'text/plain', ...length },
      });
      const closed = new Promise<void>((resolve) => req.once('close', resolve));
      req.on('error', () => undefined);
      const answer = new Promise<number>((resolve) =>
        req.once('response', (r) => resolve(r.statusCode ?? 0)),
      );
      let written = 0;
      let open = true;
      void closed.then(() => (open = false));
      const chunk = Buffer.alloc(64 * 1024, 2);
      const started = Date.now();
      while (open && Date.now() - started < 20_000) {
        written += chunk.length;
        if (!req.write(chunk)) await Promise.race([once(req, 'drain'), closed]);
      }
      expect(await answer).toBe(413);
      expect(open, 'the api closed the connection').toBe(false);
      expect(Date.now() - started).toBeLessThan(10_000);
      // The limit, plus what was dropped while lingering, plus socket buffers: far from endless.
      expect(written).toBeLessThan(64 * MiB);
      await nothingLeft();
    },
  );

  it('exactly ARTIFACT_MAX_BYTES is accepted', async () => {
    const res = await upload('sample', { request_id: 'r', filename: 'edge' }, chunked(MiB));
    expect(res.status).toBe(202);
    expect(((await res.json()) as Accepted).size).toBe(MiB);
  });

  it('a wrong X-Content-SHA256 is a 400 naming it; nothing is enqueued and the spool file is removed', async () => {
    const bytes = Buffer.from('payload');
    const res = await upload('sample', { request_id: 'r', filename: 'f' }, bytes, {
      'x-content-sha256': sha256('something else'),
    });
    expect(res.status).toBe(400);
    const p = await problem(res);
    expect(p.code).toBe('checksum_mismatch');
    expect(p.errors?.map((e) => e.path)).toEqual(['X-Content-SHA256']);

    const data = new FormData();
    data.append('request_id', 'r');
    data.append('file', new Blob([bytes]), 'f');
    const viaForm = await form('sample', data, { 'x-content-sha256': 'f'.repeat(64) });
    expect(viaForm.status).toBe(400);
    expect((await problem(viaForm)).errors?.map((e) => e.path)).toEqual(['X-Content-SHA256']);

    const malformed = await upload('sample', { request_id: 'r', filename: 'f' }, bytes, {
      'x-content-sha256': 'abc',
    });
    expect(malformed.status).toBe(400);
    expect((await problem(malformed)).errors?.map((e) => e.path)).toEqual(['X-Content-SHA256']);
    await nothingLeft();

    const right = await upload('sample', { request_id: 'r', filename: 'f' }, bytes, {
      'x-content-sha256': sha256(bytes).toUpperCase(),
    });
    expect(right.status).toBe(202);
  });

  it('a multipart body out of order, without a file or with two is a 400, and nothing stays spooled', async () => {
    const late = new FormData();
    late.append('filename', 'f.log');
    late.append('file', new Blob(['data']), 'f.log');
    late.append('request_id', 'r');
    const lateRes = await form('sample', late);
    expect(lateRes.status).toBe(400);
    expect((await problem(lateRes)).errors?.map((e) => e.path)).toEqual(['request_id']);

    const none = new FormData();
    none.append('request_id', 'r');
    none.append('filename', 'f.log');
    const noneRes = await form('sample', none);
    expect(noneRes.status).toBe(400);
    expect((await problem(noneRes)).errors?.map((e) => e.path)).toEqual(['file']);

    const two = new FormData();
    two.append('request_id', 'r');
    two.append('file', new Blob(['one']), 'a.log');
    two.append('file', new Blob(['two']), 'b.log');
    const twoRes = await form('sample', two);
    expect(twoRes.status).toBe(400);
    expect((await problem(twoRes)).errors?.map((e) => e.path)).toEqual(['file']);

    const broken = await fetch(`${base}/v1/artifacts/sample`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'multipart/form-data; boundary=xyz' },
      body: '--xyz\r\nContent-Disposition: form-data; name="request_id"\r\n\r\nr\r\n--xyz\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\ntruncated',
    });
    expect(broken.status).toBe(400);
    await nothingLeft();
  });

  it('the same Idempotency-Key and bytes are one job; other bytes a 409; neither leaves a second spool file', async () => {
    const send = (bytes: string) =>
      upload('sample', { request_id: 'r', filename: 'same.log' }, Buffer.from(bytes), {
        'idempotency-key': 'upload-42',
      });
    const first = (await (await send('first')).json()) as Accepted;
    const other = await send('second');
    expect(other.status).toBe(409);
    expect(await problem(other)).toMatchObject({ code: 'idempotency_conflict' });
    const again = await send('first');
    expect(again.status).toBe(202);
    const second = (await again.json()) as Accepted;
    expect(second.id).toBe(first.id);
    expect(second).toMatchObject({ replayed: true, sha256: sha256('first'), size: 5 });
    expect(await jobs()).toHaveLength(1);
    expect(await spooled()).toHaveLength(1);
  });

  it('the same bytes to the same key without a key are one job too (the definition derives it)', async () => {
    const send = () =>
      upload('sample', { request_id: 'r', filename: 'same.log' }, Buffer.from('identical'));
    const [a, b] = [
      (await (await send()).json()) as Accepted,
      (await (await send()).json()) as Accepted,
    ];
    expect(b.id).toBe(a.id);
    expect(await spooled()).toHaveLength(1);
  });

  it('a client that disconnects mid-upload leaves no spool file and no job', async () => {
    const url = new URL(`${base}/v1/artifacts/sample?request_id=r&filename=cut.log`);
    const req = request(url, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'text/plain', 'content-length': String(MiB) },
    });
    req.on('error', () => undefined);
    req.write(Buffer.alloc(256 * 1024, 1));
    // The partial file exists while the body is streaming …
    await eventually(
      async () => ((await spooled()).length === 1 ? true : undefined),
      5_000,
      'partial file',
    );
    req.destroy();
    // … and is gone once the api notices the connection closed.
    await eventually(
      async () => ((await spooled()).length === 0 ? true : undefined),
      5_000,
      'spool emptied',
    );
    expect(await jobs()).toEqual([]);
  });

  it('scopes and kinds: 401 without a key, 403 without the artifacts scope, 404 naming an unknown kind', async () => {
    const noKey = await fetch(`${base}/v1/artifacts/sample?request_id=r&filename=f`, {
      method: 'POST',
      body: 'x',
    });
    expect(noKey.status).toBe(401);
    const readOnly = await upload(
      'sample',
      { request_id: 'r', filename: 'f' },
      'x',
      auth(TEST_KEYS.read),
    );
    expect(readOnly.status).toBe(403);
    const ingest = await upload(
      'sample',
      { request_id: 'r', filename: 'f' },
      'x',
      auth(TEST_KEYS.ingest),
    );
    expect(ingest.status).toBe(403);
    const unknown = await upload('samples', { request_id: 'r', filename: 'f' }, 'x');
    expect(unknown.status).toBe(404);
    expect((await problem(unknown)).errors?.map((e) => e.path)).toEqual(['kind']);
    const admin = await upload(
      'sample',
      { request_id: 'r', filename: 'f' },
      'x',
      auth(TEST_KEYS.admin),
    );
    expect(admin.status).toBe(202);
  });

  it('presign refuses keys outside the kind, traversal and lifetimes over PRESIGN_MAX_SECONDS', async () => {
    const presign = (kind: string, body: unknown, key: string = TEST_KEYS.read) =>
      fetch(`${base}/v1/artifacts/${kind}/presign`, {
        method: 'POST',
        headers: { ...auth(key), 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    for (const key of [
      'tas/r/v1/x.tgz',
      'samples/r/../../etc/passwd',
      'samples/../debug/x/y',
      '/samples/r/f',
      'samples/r/f/g',
      'samples/r/',
      'samples/r/a\u0001b',
    ]) {
      const res = await presign('sample', { key });
      expect(res.status, key).toBe(400);
      expect(
        (await problem(res)).errors?.map((e) => e.path),
        key,
      ).toEqual(['key']);
    }
    const tooLong = await presign('sample', { key: 'samples/r/f', expires_in: 7201 });
    expect(tooLong.status).toBe(400);
    expect((await problem(tooLong)).errors?.map((e) => e.path)).toEqual(['expires_in']);
    expect((await presign('samples', { key: 'samples/r/f' })).status).toBe(404);
    expect((await presign('sample', { key: 'samples/r/f' }, TEST_KEYS.ingest)).status).toBe(403);
    const notJson = await fetch(`${base}/v1/artifacts/sample/presign`, {
      method: 'POST',
      headers: { ...auth(TEST_KEYS.read), 'content-type': 'text/plain' },
      body: 'key=samples/r/f',
    });
    expect(notJson.status).toBe(415);
  });
});

describe('artifact list, presigned URLs and stats (after a worker uploaded)', () => {
  let world: StowageWorld;
  let base: string;
  let spoolDir: string;
  const buckets = randomBuckets();
  const sampleA = Buffer.from('first sample\n'.repeat(1000));
  const sampleB = randomBytes(300_000);
  const bundle = randomBytes(5_000);
  const keys = {
    a: 'samples/req-list/a.log',
    b: 'samples/req-list/b.bin',
    ta: 'tas/req-list/v2/rev-1.tgz',
  };

  const read = (path: string, key: string = TEST_KEYS.read) =>
    fetch(`${base}${path}`, { headers: auth(key) });
  const presign = (kind: string, body: unknown) =>
    fetch(`${base}/v1/artifacts/${kind}/presign`, {
      method: 'POST',
      headers: { ...auth(TEST_KEYS.read), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    spoolDir = await mkdtemp(join(tmpdir(), 'stowage-artifact-read-'));
    world = new StowageWorld({ SPOOL_DIR: spoolDir, PRESIGN_MAX_SECONDS: '7200', ...buckets });
    await world.deps.artifacts.ensureBuckets();
    await world.startWorker(['artifacts']);
    base = await world.startApi();

    const sent: Response[] = [
      await fetch(`${base}/v1/artifacts/sample?request_id=req-list&filename=a.log`, {
        method: 'POST',
        headers: { ...auth(), 'content-type': 'text/plain', 'x-artifact-meta-origin': 'otx' },
        body: sampleA,
      }),
    ];
    const data = new FormData();
    data.append('request_id', 'req-list');
    data.append('file', new Blob([sampleB]), 'b.bin');
    sent.push(
      await fetch(`${base}/v1/artifacts/sample`, { method: 'POST', headers: auth(), body: data }),
    );
    sent.push(
      await fetch(
        `${base}/v1/artifacts/ta-bundle?request_id=req-list&revision_id=rev-1&version=2`,
        {
          method: 'POST',
          headers: { ...auth(), 'content-type': 'application/gzip' },
          body: bundle,
        },
      ),
    );
    for (const res of sent) {
      expect(res.status).toBe(202);
      const { status_url } = (await res.json()) as Accepted;
      await eventually(
        async () => {
          const job = (await (await read(status_url)).json()) as {
            state: string;
            failed_reason: string;
          };
          if (job.state === 'failed') throw new Error(`upload failed: ${job.failed_reason}`);
          return job.state === 'completed' ? job : undefined;
        },
        30_000,
        `${status_url} completed`,
      );
    }
  });
  afterAll(async () => {
    await dropBuckets(world, buckets);
    await world.close();
    await rm(spoolDir, { recursive: true, force: true });
  });

  it('the worker moved every upload out of the spool', async () => {
    expect(await readdir(spoolDir)).toEqual([]);
  });

  it('GET /v1/artifacts/{kind}/{id} lists the artifacts of a request with size, digest and metadata', async () => {
    const res = await read('/v1/artifacts/sample/req-list');
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      kind: string;
      id: string;
      bucket: string;
      artifacts: {
        key: string;
        size: number;
        sha256: string | null;
        last_modified: string;
        metadata: Record<string, string>;
      }[];
    };
    expect(body).toMatchObject({
      kind: 'sample',
      id: 'req-list',
      bucket: buckets.ARTIFACT_BUCKET_SAMPLES,
    });
    const byKey = Object.fromEntries(body.artifacts.map((a) => [a.key, a]));
    expect(Object.keys(byKey).sort()).toEqual([keys.a, keys.b]);
    expect(byKey[keys.a]).toMatchObject({
      size: sampleA.length,
      sha256: sha256(sampleA),
      metadata: { origin: 'otx' },
    });
    expect(byKey[keys.b]).toMatchObject({ size: sampleB.length, sha256: sha256(sampleB) });
    expect(Date.parse(byKey[keys.a]!.last_modified)).toBeGreaterThan(Date.now() - 5 * 60_000);

    const tas = (await (await read('/v1/artifacts/ta-bundle/req-list')).json()) as {
      artifacts: { key: string }[];
    };
    expect(tas.artifacts.map((a) => a.key)).toEqual([keys.ta]);
    const none = (await (await read('/v1/artifacts/debug-bundle/req-list')).json()) as {
      artifacts: unknown[];
    };
    expect(none.artifacts).toEqual([]);
  });

  it('listing needs the read scope, a known kind and a plain id', async () => {
    expect((await read('/v1/artifacts/sample/req-list', TEST_KEYS.ingest)).status).toBe(403);
    const kind = await read('/v1/artifacts/logs/req-list');
    expect(kind.status).toBe(404);
    expect(((await kind.json()) as Problem).errors?.map((e) => e.path)).toEqual(['kind']);
    const id = await read('/v1/artifacts/sample/a..b');
    expect(id.status).toBe(400);
    expect(((await id.json()) as Problem).errors?.map((e) => e.path)).toEqual(['id']);
  });

  it('a presigned URL downloads the artifact and expires after the default lifetime', async () => {
    const before = Date.now();
    const res = await presign('sample', { key: keys.b });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      url: string;
      key: string;
      expires_in: number;
      expires_at: string;
    };
    expect(body.key).toBe(keys.b);
    expect(body.expires_in).toBe(3600);
    const expiresAt = Date.parse(body.expires_at);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 3_600_000 - 1_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 3_600_000 + 1_000);
    expect(new URL(body.url).searchParams.get('X-Amz-Expires')).toBe('3600');
    const download = await fetch(body.url);
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer())).toEqual(sampleB);

    const short = (await (await presign('ta-bundle', { key: keys.ta, expires_in: 60 })).json()) as {
      url: string;
    };
    expect(new URL(short.url).searchParams.get('X-Amz-Expires')).toBe('60');
    expect(Buffer.from(await (await fetch(short.url)).arrayBuffer())).toEqual(bundle);
  });

  it('presigning an object that does not exist is a 404 naming key', async () => {
    const res = await presign('sample', { key: 'samples/req-list/missing.log' });
    expect(res.status).toBe(404);
    expect(((await res.json()) as Problem).errors?.map((e) => e.path)).toEqual(['key']);
    // A TA key asked for under another kind is refused before any look-up.
    expect((await presign('debug-bundle', { key: keys.ta })).status).toBe(400);
  });

  it('GET /v1/artifacts/stats reports objects, bytes, oldest and newest per bucket', async () => {
    const res = await read('/v1/artifacts/stats');
    expect(res.status).toBe(200);
    const stats = (await res.json()) as Record<
      string,
      {
        bucket: string;
        objects: number;
        bytes: number;
        oldest: string | null;
        newest: string | null;
      }
    >;
    expect(stats.sample).toMatchObject({
      bucket: buckets.ARTIFACT_BUCKET_SAMPLES,
      objects: 2,
      bytes: sampleA.length + sampleB.length,
    });
    expect(Date.parse(stats.sample!.oldest!)).toBeLessThanOrEqual(
      Date.parse(stats.sample!.newest!),
    );
    expect(stats['ta-bundle']).toMatchObject({ objects: 1, bytes: bundle.length });
    expect(stats['debug-bundle']).toEqual({
      bucket: buckets.ARTIFACT_BUCKET_DEBUG_BUNDLES,
      objects: 0,
      bytes: 0,
      oldest: null,
      newest: null,
    });
    expect((await read('/v1/artifacts/stats', TEST_KEYS.artifacts)).status).toBe(403);
  });
});
