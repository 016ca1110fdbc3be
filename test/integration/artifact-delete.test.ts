// DELETE /v1/artifacts/{kind}/objects/{key}: samples and debug bundles deleted for good with
// an audit row; TA bundles and Object Lock'd versions refused by Stowage before any
// DeleteObject, and by the real S3 (Ceph RGW) when asked anyway.
import { createHash, randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { archiveManifestKey, archivePartKey } from '../../src/domain/archive.js';
import { StowageApiError, StowageClient } from '../../src/sdk/index.js';
import { s3ErrorCode } from '../../src/stores/s3/classify-s3-error.js';
import { artifactOverrides, dropArtifacts } from '../helpers/artifacts.js';
import { StowageWorld, TEST_KEYS } from '../helpers/world.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const auth = (key: string = TEST_KEYS.admin) => ({ authorization: `Bearer ${key}` });

interface Problem {
  status: number;
  code: string;
  detail: string;
  errors?: { path: string; message: string }[];
}

describe('artifact delete', () => {
  let world: StowageWorld;
  let base: string;
  let overrides: Record<string, string>;
  let samples: string;
  let debug: string;
  let tas: string;
  /** The S3 commands the api sent since the test began. */
  let sent: string[];
  const held: { Key: string; VersionId: string }[] = [];

  const url = (kind: string, key: string, query = '') =>
    `${base}/v1/artifacts/${kind}/objects/${encodeURIComponent(key)}${query}`;
  const del = (kind: string, key: string, query = '', key_: string = TEST_KEYS.admin) =>
    fetch(url(kind, key, query), { method: 'DELETE', headers: auth(key_) });
  /** Stores an object as an artifact.upload job leaves it: its SHA-256 in the metadata. */
  const put = async (
    bucket: string,
    key: string,
    body: Buffer,
    extra: Partial<PutObjectCommandInput> = {},
  ) =>
    world.deps.s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        Metadata: { sha256: sha256(body), size: String(body.length) },
        ...extra,
      }),
    );
  const versionsOf = async (bucket: string, key: string) => {
    const out = await world.deps.s3.send(
      new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }),
    );
    return {
      versions: (out.Versions ?? []).filter((v) => v.Key === key),
      markers: (out.DeleteMarkers ?? []).filter((v) => v.Key === key),
    };
  };
  const deletions = (bucket: string, key: string) =>
    world.deps.artifactDeletions.forKey(bucket, key);

  beforeAll(async () => {
    overrides = await artifactOverrides();
    samples = overrides.ARTIFACT_BUCKET_SAMPLES!;
    debug = overrides.ARTIFACT_BUCKET_DEBUG_BUNDLES!;
    tas = overrides.ARTIFACT_BUCKET_TA_BUNDLES!;
    world = new StowageWorld(overrides);
    // An operator may give the debug bucket Object Lock; init keeps it (versioning is on).
    await world.deps.s3.send(
      new CreateBucketCommand({ Bucket: debug, ObjectLockEnabledForBucket: true }),
    );
    await world.initStores();
    base = await world.startApi();
    world.deps.s3.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(context.commandName ?? '?');
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
  }, 60_000);
  beforeEach(() => {
    sent = [];
  });
  afterEach(() => {
    sent = [];
  });
  afterAll(async () => {
    world.deps.s3.middlewareStack.remove('recordCommands');
    for (const v of held) {
      await world.deps.s3.send(
        new PutObjectLegalHoldCommand({ Bucket: debug, ...v, LegalHold: { Status: 'OFF' } }),
      );
    }
    await world.close();
    await dropArtifacts(world.deps.s3, overrides);
  });

  it('deletes a sample for good with an audit row; deleting it again answers deleted: false', async () => {
    const body = randomBytes(2000);
    await put(samples, 'samples/req-1/app.log', body);
    const res = await del('sample', 'samples/req-1/app.log', '?reason=customer%20asked');
    expect(res.status).toBe(200);
    const answer = (await res.json()) as Record<string, unknown>;
    expect(answer).toMatchObject({
      kind: 'sample',
      key: 'samples/req-1/app.log',
      bucket: samples,
      deleted: true,
      version_ids: ['null'],
      size: 2000,
      sha256: sha256(body),
    });
    expect(Date.parse(answer.deleted_at as string)).not.toBeNaN();
    expect(await versionsOf(samples, 'samples/req-1/app.log')).toEqual({
      versions: [],
      markers: [],
    });
    const rows = await deletions(samples, 'samples/req-1/app.log');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      kind: 'sample',
      version_ids: ['null'],
      size: 2000,
      sha256: sha256(body),
      api_key: 'admin-client',
      reason: 'customer asked',
    });
    expect(rows[0]!.deleted_at).toBeInstanceOf(Date);

    const again = await del('sample', 'samples/req-1/app.log');
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ deleted: false, version_ids: [], size: null });
    // Nothing happened, so nothing is audited a second time.
    expect(await deletions(samples, 'samples/req-1/app.log')).toHaveLength(1);
  });

  it('deletes every version of a debug bundle (no delete marker leaves the bytes readable)', async () => {
    const key = 'debug/run-1/diag.zip';
    const first = randomBytes(100);
    const second = randomBytes(300);
    await put(debug, key, first);
    await put(debug, key, second);
    // A prefixed neighbour key is left alone.
    await put(debug, `${key}x`, first);
    expect((await versionsOf(debug, key)).versions).toHaveLength(2);

    const res = await del('debug-bundle', key);
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { version_ids: string[]; size: number; sha256: string };
    expect(answer.version_ids).toHaveLength(2);
    expect(answer).toMatchObject({ size: 300, sha256: sha256(second) });
    expect(await versionsOf(debug, key)).toEqual({ versions: [], markers: [] });
    expect((await versionsOf(debug, `${key}x`)).versions).toHaveLength(1);
    expect(sent.filter((c) => c === 'DeleteObjectCommand')).toHaveLength(2);
  });

  it('refuses a TA bundle with a 409 naming why, before any S3 call', async () => {
    const key = 'tas/req-1/v1/rev-1.tgz';
    await put(tas, key, randomBytes(50));
    sent = [];
    const res = await del('ta-bundle', key);
    expect(res.status).toBe(409);
    const problem = (await res.json()) as Problem;
    expect(problem.code).toBe('artifact_protected');
    expect(problem.detail).toMatch(/TA bundles are never deleted/);
    expect(problem.errors?.[0]?.path).toBe('key');
    expect(sent).toEqual([]);
    expect((await versionsOf(tas, key)).versions).toHaveLength(1);
  });

  it('refuses a version under legal hold before any DeleteObject; S3 itself refuses its versioned delete', async () => {
    const key = 'debug/run-2/held.zip';
    const out = await put(debug, key, randomBytes(64), { ObjectLockLegalHoldStatus: 'ON' });
    const versionId = out.VersionId!;
    held.push({ Key: key, VersionId: versionId });
    sent = [];

    const res = await del('debug-bundle', key);
    expect(res.status).toBe(409);
    const problem = (await res.json()) as Problem;
    expect(problem).toMatchObject({ code: 'artifact_protected', errors: [{ path: 'key' }] });
    expect(problem.detail).toMatch(/under legal hold/);
    expect(sent).not.toContain('DeleteObjectCommand');
    expect(await deletions(debug, key)).toEqual([]);

    // Asked anyway, by version id (what would remove the bytes): S3 answers AccessDenied.
    const refused = await world.deps.s3
      .send(new DeleteObjectCommand({ Bucket: debug, Key: key, VersionId: versionId }))
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(s3ErrorCode(refused)).toBe('AccessDenied');
    // A plain delete is not refused, but removes nothing: it only adds a delete marker, and
    // the held version is still there, readable by its id.
    const marker = await world.deps.s3.send(new DeleteObjectCommand({ Bucket: debug, Key: key }));
    expect(marker.DeleteMarker).toBe(true);
    const head = await world.deps.s3.send(
      new HeadObjectCommand({ Bucket: debug, Key: key, VersionId: versionId }),
    );
    expect(head.ObjectLockLegalHoldStatus).toBe('ON');
    // Stowage still refuses: the held version is not the current one, but it is a version.
    expect((await del('debug-bundle', key)).status).toBe(409);
  });

  it('refuses a version under unexpired retention; S3 refuses its versioned delete too', async () => {
    const key = 'debug/run-3/kept.zip';
    const out = await put(debug, key, randomBytes(64), {
      ObjectLockMode: 'GOVERNANCE',
      ObjectLockRetainUntilDate: new Date(Date.now() + 3_600_000),
    });
    sent = [];
    const res = await del('debug-bundle', key);
    expect(res.status).toBe(409);
    const problem = (await res.json()) as Problem;
    expect(problem.code).toBe('artifact_protected');
    expect(problem.detail).toMatch(/under GOVERNANCE retention until/);
    expect(sent).not.toContain('DeleteObjectCommand');

    const refused = await world.deps.s3
      .send(new DeleteObjectCommand({ Bucket: debug, Key: key, VersionId: out.VersionId }))
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(s3ErrorCode(refused)).toBe('AccessDenied');
    expect((await versionsOf(debug, key)).versions).toHaveLength(1);
  });

  it('no delete reaches the locked archive: an archive key is a 400, an archive kind a 404, before any S3 call', async () => {
    // The archive bucket is no artifact kind, and every kind's key layout refuses an archive
    // key; S3's own refusal of a locked archive part is shown in archive-lock.test.ts.
    const keys = [archivePartKey('2026-01-01', 1), archiveManifestKey('2026-01-01')];
    for (const kind of ['sample', 'ta-bundle', 'debug-bundle']) {
      for (const key of keys) {
        const res = await del(kind, key);
        expect(res.status).toBe(400);
        expect(((await res.json()) as Problem).errors?.[0]?.path).toBe('key');
      }
    }
    // No artifact kind is the archive: 404, naming kind.
    const archiveKind = await del('archive', keys[0]!);
    expect(archiveKind.status).toBe(404);
    expect(((await archiveKind.json()) as Problem).errors?.[0]?.path).toBe('kind');
    expect(sent).toEqual([]);
  });

  it('needs an admin key; a bad key is a 400 naming key, a bad reason a 400 naming reason', async () => {
    await put(samples, 'samples/req-9/a.log', randomBytes(10));
    for (const key of [TEST_KEYS.read, TEST_KEYS.artifacts, TEST_KEYS.ingest]) {
      expect((await del('sample', 'samples/req-9/a.log', '', key)).status).toBe(403);
    }
    expect((await fetch(url('sample', 'samples/req-9/a.log'), { method: 'DELETE' })).status).toBe(
      401,
    );
    const bad = await del('sample', 'debug/req-9/a.log');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as Problem).errors).toEqual([
      { path: 'key', message: expect.stringMatching(/not a sample key/) as string },
    ]);
    const unknown = await del('sample', 'samples/req-9/a.log', '?why=x');
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as Problem).errors?.[0]?.path).toBe('why');
    const tooLong = await del('sample', 'samples/req-9/a.log', `?reason=${'x'.repeat(501)}`);
    expect(tooLong.status).toBe(400);
    expect(((await tooLong.json()) as Problem).errors?.[0]?.path).toBe('reason');
    expect((await versionsOf(samples, 'samples/req-9/a.log')).versions).toHaveLength(1);
  });

  it('SDK: deleteArtifact deletes, answers deleted: false the second time, and throws on a TA bundle', async () => {
    const client = new StowageClient({ baseUrl: base, apiKey: TEST_KEYS.admin });
    await put(samples, 'samples/req-sdk/x.log', randomBytes(10));
    const first = await client.deleteArtifact('sample', 'samples/req-sdk/x.log', {
      reason: 'cleanup',
    });
    expect(first).toMatchObject({ deleted: true, size: 10 });
    expect(await client.deleteArtifact('sample', 'samples/req-sdk/x.log')).toMatchObject({
      deleted: false,
    });
    const refused = await client.deleteArtifact('ta-bundle', 'tas/r/v1/x.tgz').then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(StowageApiError);
    expect(refused).toMatchObject({ status: 409, code: 'artifact_protected' });
  });
});
