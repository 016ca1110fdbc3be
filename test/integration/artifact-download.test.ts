// GET /v1/artifacts/{kind}/objects/{key}: artifacts streamed back out of the real S3 (Ceph
// RGW), with ranges, the stored digest, and the S3 body closed when the client goes away.
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { Readable } from 'node:stream';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StowageApiError, StowageClient } from '../../src/sdk/index.js';
import { artifactOverrides, dropArtifacts } from '../helpers/artifacts.js';
import { StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';

const MiB = 1024 * 1024;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const auth = (key: string = TEST_KEYS.read) => ({ authorization: `Bearer ${key}` });

interface Problem {
  status: number;
  code: string;
  errors?: { path: string; message: string }[];
}

describe('artifact download', () => {
  let world: StowageWorld;
  let base: string;
  let overrides: Record<string, string>;
  const small = randomBytes(1000);
  const large = randomBytes(16 * MiB);

  const url = (kind: string, key: string) =>
    `${base}/v1/artifacts/${kind}/objects/${encodeURIComponent(key)}`;
  /** Stores an object as an artifact.upload job leaves it: its SHA-256 in the metadata. */
  const put = async (bucket: string, key: string, body: Buffer, contentType: string) => {
    await world.deps.s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentType: contentType,
        Metadata: { sha256: sha256(body), size: String(body.length) },
      }),
    );
  };

  beforeAll(async () => {
    overrides = await artifactOverrides();
    world = new StowageWorld(overrides);
    await world.initStores();
    base = await world.startApi();
    await put(overrides.ARTIFACT_BUCKET_SAMPLES!, 'samples/req-1/app.log', small, 'text/plain');
    await put(
      overrides.ARTIFACT_BUCKET_DEBUG_BUNDLES!,
      'debug/run-1/big.zip',
      large,
      'application/zip',
    );
  }, 60_000);
  afterAll(async () => {
    await world.close();
    await dropArtifacts(world.deps.s3, overrides);
  });

  it('streams every byte with Content-Length, Content-Type, ETag and the stored SHA-256', async () => {
    const res = await fetch(url('sample', 'samples/req-1/app.log'), { headers: auth() });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(small.length));
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(res.headers.get('etag')).toMatch(/^"[0-9a-f]{32}"$/);
    expect(res.headers.get('x-stowage-sha256')).toBe(sha256(small));
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('content-disposition')).toContain('filename="app.log"');
    expect(Buffer.from(await res.arrayBuffer()).equals(small)).toBe(true);

    const big = await fetch(url('debug-bundle', 'debug/run-1/big.zip'), { headers: auth() });
    expect(big.status).toBe(200);
    const bytes = Buffer.from(await big.arrayBuffer());
    expect(bytes.length).toBe(large.length);
    expect(sha256(bytes)).toBe(big.headers.get('x-stowage-sha256'));
  });

  it('a non-ASCII filename is downloaded by its percent-encoded key and named in Content-Disposition', async () => {
    const key = 'samples/req-2/résumé (1).log';
    await put(overrides.ARTIFACT_BUCKET_SAMPLES!, key, small, 'text/plain');
    const res = await fetch(url('sample', key), { headers: auth() });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="r_sum_ (1).log"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%281%29.log`,
    );
    expect(Buffer.from(await res.arrayBuffer()).equals(small)).toBe(true);
  });

  it('a single range is a 206 with Content-Range; a range past the end is a 416 naming the size', async () => {
    const get = (range: string) =>
      fetch(url('sample', 'samples/req-1/app.log'), { headers: { ...auth(), range } });
    const cases: [string, number, number][] = [
      ['bytes=10-19', 10, 19],
      ['bytes=990-', 990, 999],
      ['bytes=-5', 995, 999],
      ['bytes=0-999999', 0, 999],
    ];
    for (const [range, start, end] of cases) {
      const res = await get(range);
      expect(res.status, range).toBe(206);
      expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/1000`);
      expect(res.headers.get('content-length')).toBe(String(end - start + 1));
      // The digest is the whole object's, whatever range is served.
      expect(res.headers.get('x-stowage-sha256')).toBe(sha256(small));
      expect(Buffer.from(await res.arrayBuffer()).equals(small.subarray(start, end + 1))).toBe(
        true,
      );
    }

    for (const range of ['bytes=1000-', 'bytes=5000-6000', 'bytes=-0']) {
      const res = await get(range);
      expect(res.status, range).toBe(416);
      expect(res.headers.get('content-range')).toBe('bytes */1000');
      expect(((await res.json()) as Problem).code).toBe('range_not_satisfiable');
    }

    // Several ranges, another unit, nonsense: ignored, every byte served.
    for (const range of ['bytes=0-1,5-6', 'items=0-1', 'bytes=9-2', 'bytes=abc']) {
      const res = await get(range);
      expect(res.status, range).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(small)).toBe(true);
    }
  });

  it('an unknown object is a 404, a key not of the kind a 400 naming key, an unknown kind a 404', async () => {
    const missing = await fetch(url('sample', 'samples/req-1/nope.log'), { headers: auth() });
    expect(missing.status).toBe(404);
    expect((await missing.json()) as Problem).toMatchObject({
      code: 'not_found',
      errors: [{ path: 'key' }],
    });
    for (const key of ['samples/req-1/../x', 'debug/run-1/big.zip', 'samples/req-1', 'x']) {
      const res = await fetch(url('sample', key), { headers: auth() });
      expect(res.status, key).toBe(400);
      expect((await res.json()) as Problem).toMatchObject({
        code: 'invalid_payload',
        errors: [{ path: 'key' }],
      });
    }
    const kind = await fetch(url('logs', 'samples/req-1/app.log'), { headers: auth() });
    expect(kind.status).toBe(404);
    expect(((await kind.json()) as Problem).errors?.[0]?.path).toBe('kind');
  });

  it('needs the read scope: no key is a 401, an ingest key a 403, read and artifacts keys read', async () => {
    const target = url('sample', 'samples/req-1/app.log');
    expect((await fetch(target)).status).toBe(401);
    expect((await fetch(target, { headers: auth(TEST_KEYS.ingest) })).status).toBe(403);
    for (const key of [TEST_KEYS.read, TEST_KEYS.admin]) {
      const res = await fetch(target, { headers: auth(key) });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
  });

  it('a HEAD answers the headers without reading the object', async () => {
    const res = await fetch(url('debug-bundle', 'debug/run-1/big.zip'), {
      method: 'HEAD',
      headers: auth(),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(large.length));
    expect(res.headers.get('x-stowage-sha256')).toBe(sha256(large));
  });

  it('a client that goes away mid-stream gets the S3 body destroyed, unread to its end', async () => {
    const bodies: Readable[] = [];
    const name = 'captureGetObjectBodies';
    world.deps.s3.middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        if (context.commandName === 'GetObjectCommand') {
          bodies.push((out.output as { Body: Readable }).Body);
        }
        return out;
      },
      { step: 'initialize', name },
    );
    try {
      const received = await new Promise<number>((resolve, reject) => {
        const req = request(url('debug-bundle', 'debug/run-1/big.zip'), { headers: auth() });
        req.on('response', (res) => {
          expect(res.statusCode).toBe(200);
          res.once('data', (chunk: Buffer) => {
            req.destroy();
            resolve(chunk.length);
          });
        });
        req.on('error', (err) => {
          if (!req.destroyed) reject(err);
        });
        req.end();
      });
      expect(received).toBeLessThan(large.length);
      expect(bodies).toHaveLength(1);
      const body = bodies[0]!;
      await eventually(
        () => Promise.resolve(body.destroyed ? true : undefined),
        10_000,
        'S3 body destroyed',
      );
      expect(body.readableEnded).toBe(false);
    } finally {
      world.deps.s3.middlewareStack.remove(name);
    }
    // The api serves the next download as before.
    const res = await fetch(url('sample', 'samples/req-1/app.log'), { headers: auth() });
    expect(Buffer.from(await res.arrayBuffer()).equals(small)).toBe(true);
  });

  it('SDK: downloadArtifact streams an uploaded artifact back, whole or a range, with its digest', async () => {
    await world.startWorker(['artifacts']);
    const client = new StowageClient({ baseUrl: base, apiKey: TEST_KEYS.admin });
    const bytes = randomBytes(300_000);
    const accepted = await client.uploadArtifact(
      { kind: 'sample', request_id: 'sdk-down', filename: 'data.bin' },
      bytes,
      { contentType: 'application/x-data' },
    );
    await client.waitForJob(accepted.id, { timeoutMs: 30_000, pollMs: 50 });

    const whole = await client.downloadArtifact('sample', accepted.key);
    expect(whole).toMatchObject({
      status: 200,
      length: bytes.length,
      contentType: 'application/x-data',
      sha256: sha256(bytes),
      range: undefined,
    });
    const chunks: Uint8Array[] = [];
    for await (const chunk of whole.body as unknown as AsyncIterable<Uint8Array>) {
      chunks.push(chunk);
    }
    expect(Buffer.concat(chunks).equals(bytes)).toBe(true);

    const part = await client.downloadArtifact('sample', accepted.key, {
      range: { start: 100, end: 199 },
    });
    expect(part).toMatchObject({ status: 206, length: 100 });
    expect(part.range).toEqual({ start: 100, end: 199, size: bytes.length });
    expect(Buffer.from(await new Response(part.body).arrayBuffer())).toEqual(
      bytes.subarray(100, 200),
    );
    const tail = await client.downloadArtifact('sample', accepted.key, { range: { suffix: 10 } });
    expect(Buffer.from(await new Response(tail.body).arrayBuffer())).toEqual(
      bytes.subarray(bytes.length - 10),
    );

    const past = await client
      .downloadArtifact('sample', accepted.key, { range: { start: bytes.length } })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(past).toBeInstanceOf(StowageApiError);
    expect(past).toMatchObject({ status: 416, code: 'range_not_satisfiable' });
  }, 60_000);
});
