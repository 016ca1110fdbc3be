import { createHash, randomBytes } from 'node:crypto';
import { HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRoot, type Root } from '../../src/composition/root.js';
import type { ArtifactKind } from '../../src/domain/artifact.js';
import { createLogger } from '../../src/log.js';
import { S3ArtifactStore } from '../../src/stores/s3/artifact-store.js';
import { artifactOverrides, dropArtifacts } from '../helpers/artifacts.js';
import { testConfig } from '../helpers/world.js';

describe('S3ArtifactStore on Ceph RGW', () => {
  let overrides: Record<string, string>;
  let deps: Root;
  let store: S3ArtifactStore;

  const put = async (
    kind: ArtifactKind,
    key: string,
    body: Buffer,
    meta: Record<string, string> = {},
  ) => {
    const sha256 = createHash('sha256').update(body).digest('hex');
    await deps.s3.send(
      new PutObjectCommand({
        Bucket: store.bucketFor(kind),
        Key: key,
        Body: body,
        ContentType: 'text/plain',
        Metadata: { ...meta, sha256 },
      }),
    );
    return sha256;
  };

  beforeEach(async () => {
    overrides = await artifactOverrides();
    const config = testConfig(overrides);
    deps = createRoot(config, createLogger(config), { role: 'api' });
    store = deps.artifacts;
    await store.ensureBuckets();
  });
  afterEach(async () => {
    await dropArtifacts(deps.s3, overrides);
    await deps.close();
  });

  it('ensureBuckets is idempotent, also from several processes at once', async () => {
    const other = new S3ArtifactStore(
      deps.s3,
      {
        sample: store.bucketFor('sample'),
        'ta-bundle': store.bucketFor('ta-bundle'),
        'debug-bundle': store.bucketFor('debug-bundle'),
      },
      { partSize: deps.config.UPLOAD_PART_SIZE_BYTES, queueSize: deps.config.UPLOAD_QUEUE_SIZE },
    );
    await Promise.all([store.ensureBuckets(), other.ensureBuckets(), store.ensureBuckets()]);
    for (const kind of ['sample', 'ta-bundle', 'debug-bundle'] as const) {
      await expect(
        deps.s3.send(new HeadBucketCommand({ Bucket: store.bucketFor(kind) })),
      ).resolves.toBeDefined();
    }
    expect(store.bucketFor('sample')).toBe(overrides.ARTIFACT_BUCKET_SAMPLES);
  });

  it('lists every object of one request with size, digest, metadata and time, and nothing of another', async () => {
    const a = randomBytes(1000);
    const b = randomBytes(20);
    const shaA = await put('sample', 'samples/req-1/a.log', a, { source: 'otx' });
    const shaB = await put('sample', 'samples/req-1/b log é.txt', b);
    await put('sample', 'samples/req-10/c.log', randomBytes(5));
    await put('ta-bundle', 'tas/req-1/v1/rev-1.tgz', randomBytes(7));

    const listed = await store.list('sample', 'req-1');
    expect(listed.map((i) => i.key).sort()).toEqual([
      'samples/req-1/a.log',
      'samples/req-1/b log é.txt',
    ]);
    const first = listed.find((i) => i.key === 'samples/req-1/a.log')!;
    expect(first).toMatchObject({
      size: 1000,
      sha256: shaA,
      metadata: { source: 'otx', sha256: shaA },
    });
    expect(Date.now() - Date.parse(first.last_modified)).toBeLessThan(60_000);
    expect(listed.find((i) => i.key.startsWith('samples/req-1/b'))).toMatchObject({
      size: 20,
      sha256: shaB,
    });
    expect(await store.list('ta-bundle', 'req-1')).toHaveLength(1);
    expect(await store.list('sample', 'nobody')).toEqual([]);
  });

  it('head answers size and digest of an object, and undefined for a missing one', async () => {
    const sha = await put('debug-bundle', 'debug/run-1/d.zip', randomBytes(321));
    expect(await store.head('debug-bundle', 'debug/run-1/d.zip')).toMatchObject({
      size: 321,
      sha256: sha,
    });
    expect(await store.head('debug-bundle', 'debug/run-1/missing.zip')).toBeUndefined();
  });

  it('a presigned URL downloads the exact bytes', async () => {
    const body = randomBytes(64 * 1024);
    await put('sample', 'samples/req-2/x.bin', body);
    const url = await store.presign('sample', 'samples/req-2/x.bin', 60);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(body)).toBe(true);
    // And no more than that object: the signature covers the key.
    const other = await fetch(url.replace('x.bin', 'y.bin'));
    expect(other.status).toBe(403);
  });

  it('an expired presigned URL is refused by the server with 403', async () => {
    await put('sample', 'samples/req-3/x.bin', randomBytes(10));
    const url = await store.presign('sample', 'samples/req-3/x.bin', 1);
    // A real expiry: the server compares X-Amz-Date + X-Amz-Expires with its clock.
    await new Promise((r) => setTimeout(r, 2_100));
    const res = await fetch(url);
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('AccessDenied');
  });

  it('refuses presigned lifetimes outside 1 s .. 7 days', async () => {
    await expect(store.presign('sample', 'samples/r/x', 0)).rejects.toMatchObject({
      code: 'invalid_payload',
    });
    await expect(store.presign('sample', 'samples/r/x', 604_801)).rejects.toMatchObject({
      code: 'invalid_payload',
    });
  });

  it('stats counts objects and bytes per kind with the oldest and newest time', async () => {
    const before = Date.now() - 2_000;
    await put('sample', 'samples/r1/a', randomBytes(100));
    await put('sample', 'samples/r2/b', randomBytes(250));
    await put('debug-bundle', 'debug/run/c', randomBytes(7));
    const stats = await store.stats();
    expect(stats.sample).toMatchObject({
      bucket: overrides.ARTIFACT_BUCKET_SAMPLES,
      objects: 2,
      bytes: 350,
    });
    expect(stats['debug-bundle']).toMatchObject({ objects: 1, bytes: 7 });
    expect(stats['ta-bundle']).toEqual({
      bucket: overrides.ARTIFACT_BUCKET_TA_BUNDLES,
      objects: 0,
      bytes: 0,
      oldest: null,
      newest: null,
    });
    const oldest = Date.parse(stats.sample.oldest!);
    const newest = Date.parse(stats.sample.newest!);
    expect(oldest).toBeGreaterThanOrEqual(before);
    expect(newest).toBeGreaterThanOrEqual(oldest);
    expect(newest).toBeLessThanOrEqual(Date.now() + 2_000);
  });

  it('stats pages through more objects than one listing holds', async () => {
    // RGW's page is 1000 keys, as on AWS. Written 40 at a time, within the client's 50
    // sockets: a thousand requests at once queue behind them, and on a busy machine the last
    // ones outwait its connection timeout (seen in CI) — a burst no part of Stowage sends.
    for (let start = 0; start < 1010; start += 40) {
      await Promise.all(
        Array.from({ length: Math.min(40, 1010 - start) }, (_, i) =>
          put('debug-bundle', `debug/many/${start + i}`, Buffer.from('x')),
        ),
      );
    }
    expect((await store.stats())['debug-bundle']).toMatchObject({ objects: 1010, bytes: 1010 });
  }, 240_000);
});
