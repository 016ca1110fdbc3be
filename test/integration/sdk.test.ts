// StowageClient against the real api, workers and backends: every method, the error mapping,
// waitForJob on a job that fails, a streamed upload checked in S3, and the retry rules.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  JobFailedError,
  JobWaitTimeoutError,
  StowageApiError,
  StowageClient,
  type RetryEvent,
} from '../../src/sdk/index.js';
import {
  artifactOverrides,
  dropArtifacts,
  objectDigest,
  writeRandomFile,
} from '../helpers/artifacts.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { StowageWorld, TEST_KEYS } from '../helpers/world.js';

const MiB = 1024 * 1024;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const ioc = (value: string, confidence = 0.9) => ({
  type: 'domain' as const,
  value,
  threat_type: 'c2',
  confidence,
  first_seen: '2026-02-01T00:00:00Z',
  last_seen: new Date(),
  tags: ['apt'],
});

/** How long `promise` took to settle, and its error. */
async function rejection(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  try {
    await promise;
  } catch (error) {
    return { error, ms: Date.now() - started };
  }
  throw new Error('expected a rejection');
}

describe('StowageClient against the api', () => {
  let overrides: Record<string, string>;
  let world: StowageWorld;
  let base: string;
  let client: StowageClient;
  const retries: RetryEvent[] = [];

  beforeAll(async () => {
    overrides = await artifactOverrides();
    world = new StowageWorld(overrides);
    await world.initStores();
    await world.deps.artifacts.ensureBuckets();
    await world.startWorker(['ingest', 'artifacts', 'cache']);
    base = await world.startApi();
    client = new StowageClient({
      baseUrl: `${base}/`,
      apiKey: TEST_KEYS.admin,
      // Slow retries: a 4xx that were retried would show in the elapsed time and the events.
      retry: { retries: 3, minDelayMs: 3_000 },
      onRetry: (event) => retries.push(event),
    });
  });
  afterAll(async () => {
    await world.close().finally(() => dropArtifacts(world.deps.s3, overrides));
  });

  it('health answers healthy', async () => {
    expect(await client.health()).toEqual({ status: 'healthy' });
  });

  it('enqueue runs a typed job; waitForJob returns its completed status; the IOC is then found', async () => {
    const job = await client.enqueue('iocs.insert', {
      iocs: [{ ...ioc('SDK-One.example.com'), source: 'sdk' }],
    });
    expect(job).toMatchObject({
      type: 'iocs.insert',
      queue: 'ingest',
      status_url: `/v1/jobs/${job.id}`,
    });
    const done = await client.waitForJob(job.id, { timeoutMs: 20_000, pollMs: 50 });
    expect(done).toMatchObject({
      id: job.id,
      state: 'completed',
      attempts_made: 1,
      failed_reason: null,
    });

    const found = await client.lookupIoc('domain', 'sdk-one.example.com');
    expect(found?.ioc).toMatchObject({
      type: 'domain',
      value: 'sdk-one.example.com',
      threat_type: 'c2',
      sources: ['sdk'],
      tags: ['apt'],
    });
    expect(found?.cached).toBe(true);
  });

  it('the same Idempotency-Key and body gives the same job, another body a 409; bulk keys give one job per payload index', async () => {
    const a = await client.enqueue('cache.promote', { limit: 10 }, { idempotencyKey: 'sdk-k1' });
    const b = await client.enqueue('cache.promote', { limit: 10 }, { idempotencyKey: 'sdk-k1' });
    expect(b.id).toBe(a.id);
    const { error } = await rejection(
      client.enqueue('cache.promote', { limit: 99 }, { idempotencyKey: 'sdk-k1' }),
    );
    expect(error).toBeInstanceOf(StowageApiError);
    expect(error).toMatchObject({ status: 409, code: 'idempotency_conflict' });

    const bulk = await client.enqueueBulk('cache.promote', [{ limit: 1 }, { limit: 2 }], {
      idempotencyKey: 'sdk-bulk',
    });
    expect(bulk.jobs).toHaveLength(2);
    expect(new Set(bulk.jobs.map((j) => j.id)).size).toBe(2);
    const replay = await client.enqueueBulk('cache.promote', [{ limit: 1 }, { limit: 2 }], {
      idempotencyKey: 'sdk-bulk',
    });
    expect(replay.jobs.map((j) => j.id)).toEqual(bulk.jobs.map((j) => j.id));
    for (const j of bulk.jobs) {
      expect((await client.waitForJob(j.id, { timeoutMs: 20_000, pollMs: 50 })).state).toBe(
        'completed',
      );
    }
  });

  it('ingest with a watermark runs one flow; the watermark moves once every IOC is stored', async () => {
    expect(await client.getWatermark('sdk_feed')).toBeUndefined();
    const batch = {
      source_id: 'sdk_feed',
      iocs: [ioc('flow-a.example.com'), ioc('flow-b.example.com', 0.2)],
      watermark: { timestamp: '2026-02-02T10:00:00Z' },
    };
    const accepted = await client.ingestIocs(batch);
    expect(accepted).toMatchObject({
      type: 'watermark.commit',
      iocs: 2,
      chunks: 1,
      replayed: false,
    });
    await client.waitForJob(accepted.id, { timeoutMs: 20_000, pollMs: 50 });
    expect(await client.getWatermark('sdk_feed')).toMatchObject({
      source_id: 'sdk_feed',
      last_successful_timestamp: '2026-02-02T10:00:00Z',
      status: 'success',
      records_collected: 2,
    });
    // Not hot (confidence 0.2): found in the hot store, not the cache.
    expect(await client.lookupIoc('domain', 'flow-b.example.com')).toMatchObject({
      cached: false,
      ioc: { sources: ['sdk_feed'] },
    });
    // The same batch again (no key: the api derives one from its content) is the same flow.
    const replay = await client.ingestIocs(batch);
    expect(replay).toMatchObject({ id: accepted.id, replayed: true });
  });

  it('ingest without a watermark enqueues plain inserts', async () => {
    const accepted = await client.ingestIocs({
      source_id: 'sdk_feed',
      iocs: [ioc('plain.example.com')],
    });
    expect(accepted).toMatchObject({ source_id: 'sdk_feed', iocs: 1 });
    expect(accepted.jobs).toHaveLength(1);
    await client.waitForJob(accepted.jobs[0]!.id, { timeoutMs: 20_000, pollMs: 50 });
    expect(await client.lookupIoc('domain', 'PLAIN.example.com')).toBeDefined();
  });

  it('setWatermark records runs; an older success is ignored and a failure keeps the watermark', async () => {
    const first = await client.setWatermark('sdk_put', {
      timestamp: new Date('2026-03-01T00:00:00Z'),
      status: 'success',
      records_collected: 5,
    });
    expect(first).toMatchObject({ last_successful_timestamp: '2026-03-01T00:00:00Z' });
    await client.setWatermark('sdk_put', { timestamp: '2026-02-01T00:00:00Z', status: 'success' });
    const failed = await client.setWatermark('sdk_put', {
      timestamp: '2026-03-02T00:00:00Z',
      status: 'failed',
      error_message: 'feed timed out',
    });
    expect(failed).toMatchObject({
      last_successful_timestamp: '2026-03-01T00:00:00Z',
      status: 'failed',
      error_message: 'feed timed out',
    });
    expect(await client.getWatermark('sdk_put')).toEqual(failed);
  });

  it('lookupIoc of an unknown IOC is undefined; a URL IOC goes through its own path segment', async () => {
    expect(await client.lookupIoc('sha256', 'a'.repeat(64))).toBeUndefined();
    const url = 'http://evil.example.com/a/b?c=d';
    const job = await client.enqueue('iocs.insert', {
      iocs: [{ ...ioc(url), type: 'url', source: 'sdk' }],
    });
    await client.waitForJob(job.id, { timeoutMs: 20_000, pollMs: 50 });
    expect((await client.lookupIoc('url', url))?.ioc.value).toBe(url);
  });

  it('uploads 6 MiB from a file stream, sent as read; the object in S3 has the same digest', async () => {
    const path = join(overrides.SPOOL_DIR!, '..', `sdk-upload-${randomBytes(3).toString('hex')}`);
    const digest = await writeRandomFile(path, 6 * MiB);
    const accepted = await client.uploadArtifact(
      { kind: 'sample', request_id: 'sdk-req', filename: 'big.log' },
      createReadStream(path, { highWaterMark: 256 * 1024 }),
      { contentType: 'text/plain', sha256: digest, metadata: { collector: 'sdk' } },
    );
    expect(accepted).toMatchObject({
      type: 'artifact.upload',
      key: 'samples/sdk-req/big.log',
      size: 6 * MiB,
      sha256: digest,
      content_type: 'text/plain',
      replayed: false,
    });
    const done = await client.waitForJob(accepted.id, { timeoutMs: 60_000, pollMs: 100 });
    expect(done.state).toBe('completed');
    expect(await objectDigest(world.deps.s3, accepted.bucket, accepted.key)).toEqual({
      sha256: digest,
      bytes: 6 * MiB,
    });
    await rm(path);
  });

  it('uploads from a web ReadableStream and from a Buffer; a wrong digest is a 400 naming the header', async () => {
    const bytes = randomBytes(300_000);
    const web = Readable.toWeb(
      Readable.from([bytes.subarray(0, 100_000), bytes.subarray(100_000)]),
    ) as ReadableStream<Uint8Array>;
    const fromWeb = await client.uploadArtifact(
      { kind: 'debug-bundle', validation_run_id: 'run-1', filename: 'diag.zip' },
      web,
    );
    expect(fromWeb).toMatchObject({ key: 'debug/run-1/diag.zip', sha256: sha256(bytes) });
    const fromBuffer = await client.uploadArtifact(
      { kind: 'ta-bundle', request_id: 'sdk-req', revision_id: 'rev-1', version: 2 },
      bytes,
      { contentType: 'application/gzip', idempotencyKey: 'sdk-ta-1' },
    );
    expect(fromBuffer).toMatchObject({ key: 'tas/sdk-req/v2/rev-1.tgz', size: bytes.length });
    for (const { id } of [fromWeb, fromBuffer]) {
      await client.waitForJob(id, { timeoutMs: 30_000, pollMs: 50 });
    }

    const { error } = await rejection(
      client.uploadArtifact({ kind: 'sample', request_id: 'r', filename: 'x.log' }, bytes, {
        sha256: '0'.repeat(64),
      }),
    );
    expect(error).toBeInstanceOf(StowageApiError);
    expect(error).toMatchObject({
      status: 400,
      code: 'checksum_mismatch',
      errors: [{ path: 'X-Content-SHA256' }],
    });
  });

  it('lists, counts and presigns artifacts; the presigned URL serves the bytes', async () => {
    const bytes = randomBytes(10_000);
    const up = await client.uploadArtifact(
      { kind: 'sample', request_id: 'sdk-list', filename: 'one.log' },
      bytes,
    );
    await client.waitForJob(up.id, { timeoutMs: 30_000, pollMs: 50 });
    const list = await client.listArtifacts('sample', 'sdk-list');
    expect(list).toMatchObject({ kind: 'sample', id: 'sdk-list', bucket: up.bucket });
    expect(list.artifacts.map((a) => a.key)).toEqual(['samples/sdk-list/one.log']);
    expect((await client.artifactStats()).sample?.objects).toBeGreaterThanOrEqual(1);
    const presigned = await client.presignArtifact('sample', up.key, { expiresIn: 60 });
    expect(presigned).toMatchObject({ kind: 'sample', key: up.key, expires_in: 60 });
    const res = await fetch(presigned.url);
    expect(res.status).toBe(200);
    expect(sha256(new Uint8Array(await res.arrayBuffer()))).toBe(sha256(bytes));
    const { error } = await rejection(client.presignArtifact('sample', 'tas/x/v1/y.tgz'));
    expect(error).toMatchObject({ status: 400, errors: [{ path: 'key' }] });
  });

  it('cache stats count a hit; uncacheIoc drops an IOC from the cache and the store keeps it', async () => {
    const job = await client.enqueue('iocs.insert', {
      iocs: [{ ...ioc('SDK-Cached.example.com'), source: 'sdk' }],
    });
    await client.waitForJob(job.id, { timeoutMs: 20_000, pollMs: 50 });
    const before = await client.cacheStats();
    expect((await client.lookupIoc('domain', 'sdk-cached.example.com'))?.cached).toBe(true);
    const after = await client.cacheStats();
    expect(after.hits).toBe(before.hits + 1);
    expect(await client.uncacheIoc('domain', 'sdk-cached.example.com')).toEqual({
      type: 'domain',
      value: 'sdk-cached.example.com',
      invalidated: true,
    });
    const again = await client.lookupIoc('domain', 'sdk-cached.example.com');
    expect(again).toMatchObject({ cached: false, ioc: { value: 'sdk-cached.example.com' } });
  });

  it('runMaintenance enqueues a maintenance job; a rewind moves a watermark back and is listed', async () => {
    const run = await client.runMaintenance('cache.promote', {});
    expect(run).toMatchObject({ type: 'cache.promote' });
    expect((await client.waitForJob(run.id, { timeoutMs: 30_000, pollMs: 50 })).state).toBe(
      'completed',
    );

    await client.setWatermark('sdk-rewind', {
      timestamp: '2026-03-01T00:00:00Z',
      status: 'success',
    });
    const rewound = await client.rewindWatermark('sdk-rewind', {
      timestamp: '2026-02-01T00:00:00Z',
      reason: 'collector bug, collect again',
    });
    expect(rewound.watermark.last_successful_timestamp).toBe('2026-02-01T00:00:00Z');
    const rewinds = await client.listWatermarkRewinds('sdk-rewind');
    expect(rewinds.rewinds[0]).toMatchObject({ reason: 'collector bug, collect again' });
  });

  it('waitForJob on a job that fails for good throws JobFailedError with the reason', async () => {
    // An address (no DNS) not on URL_SOURCE_ALLOWLIST: refused for good at the first attempt.
    const job = await client.enqueue('artifact.upload', {
      target: { kind: 'sample', request_id: 'sdk-gone', filename: 'gone.log' },
      source: { type: 'url', url: 'https://192.0.2.1/gone.log' },
    });
    const { error } = await rejection(client.waitForJob(job.id, { timeoutMs: 20_000, pollMs: 50 }));
    expect(error).toBeInstanceOf(JobFailedError);
    const failed = error as JobFailedError;
    expect(failed.jobId).toBe(job.id);
    expect(failed.reason).toMatch(/^url_not_allowed/);
    expect(failed.job.state).toBe('failed');
  });

  it('waitForJob gives up after its deadline with the last status', async () => {
    // No worker serves the maintenance queue in this world: the job stays waiting.
    const job = await client.enqueue('retention.cleanup', { dry_run: true });
    const { error, ms } = await rejection(
      client.waitForJob(job.id, { timeoutMs: 300, pollMs: 50 }),
    );
    expect(error).toBeInstanceOf(JobWaitTimeoutError);
    expect((error as JobWaitTimeoutError).job.state).toBe('waiting');
    expect(ms).toBeLessThan(2_000);
  });

  it('maps 400, 403 and 404 problems to StowageApiError with code and field errors, never retried', async () => {
    retries.length = 0;
    const bad = await rejection(
      client.enqueue('iocs.insert', {
        iocs: [{ ...ioc('bad.example.com'), source: 'sdk', confidence: 7 }],
      }),
    );
    expect(bad.error).toMatchObject({ status: 400, code: 'invalid_payload' });
    expect((bad.error as StowageApiError).errors.map((e) => e.path)).toEqual(['iocs.0.confidence']);
    expect(bad.ms).toBeLessThan(1_500);

    const missing = await rejection(client.getJob('iocs.insert.knope'));
    expect(missing.error).toMatchObject({
      status: 404,
      code: 'not_found',
      errors: [{ path: 'id' }],
    });

    const unknownType = await rejection(
      client.enqueue('iocs.delete' as 'iocs.insert', { iocs: [] }),
    );
    expect(unknownType.error).toMatchObject({ status: 404, code: 'unknown_job_type' });

    const reader = new StowageClient({ baseUrl: base, apiKey: TEST_KEYS.read });
    const forbidden = await rejection(reader.enqueue('cache.promote', {}));
    expect(forbidden.error).toMatchObject({ status: 403, code: 'forbidden' });
    expect((forbidden.error as Error).message).toContain('POST /v1/jobs/cache.promote → 403');

    const badSource = await rejection(client.getWatermark('-bad'));
    expect(badSource.error).toMatchObject({ status: 400, errors: [{ path: 'source_id' }] });
    expect(retries).toEqual([]);
  });
});

describe('StowageClient retries', () => {
  const redisUrl = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const redisProxy = new TcpProxy(redisUrl.hostname, Number(redisUrl.port || 6379));
  let world: StowageWorld;
  let apiProxy: TcpProxy;
  let base: string;

  beforeAll(async () => {
    const viaProxy = new URL(redisUrl);
    viaProxy.port = String(await redisProxy.open());
    world = new StowageWorld({ REDIS_URL: viaProxy.toString() });
    base = await world.startApi();
    const api = new URL(base);
    apiProxy = new TcpProxy(api.hostname, Number(api.port));
    await apiProxy.open();
  });
  afterAll(async () => {
    await redisProxy.open().catch(() => undefined);
    await world.close();
    await redisProxy.cut();
    await apiProxy.cut();
  });

  it('a 503 while Redis is away is retried with the same Idempotency-Key until it lands, once', async () => {
    await redisProxy.cut();
    const events: RetryEvent[] = [];
    const client = new StowageClient({
      baseUrl: base,
      apiKey: TEST_KEYS.admin,
      retry: { retries: 30, minDelayMs: 100, maxDelayMs: 500 },
      onRetry: (event) => {
        events.push(event);
        // Redis comes back once the client has met the outage.
        if (events.length === 1) void redisProxy.open();
      },
    });
    const job = await client.enqueue('cache.promote', { limit: 5 }, { idempotencyKey: 'sdk-503' });
    expect(events[0]?.error).toMatchObject({ status: 503, code: 'backend_unavailable' });
    // Retry-After: 1 from the api, within maxDelayMs.
    expect(events[0]?.delayMs).toBe(500);
    const again = await client.enqueue(
      'cache.promote',
      { limit: 5 },
      { idempotencyKey: 'sdk-503' },
    );
    expect(again.id).toBe(job.id);
    expect(await world.queues.get('cache').getJobCounts('waiting')).toEqual({ waiting: 1 });
  });

  it('a refused connection is retried until the api is back; with retry off it is thrown at once', async () => {
    await apiProxy.cut();
    const off = new StowageClient({
      baseUrl: `http://127.0.0.1:${apiProxy.port}`,
      apiKey: TEST_KEYS.read,
      retry: false,
    });
    const { error } = await rejection(off.health());
    expect(error).toBeInstanceOf(TypeError);

    const events: RetryEvent[] = [];
    const client = new StowageClient({
      baseUrl: `http://127.0.0.1:${apiProxy.port}`,
      apiKey: TEST_KEYS.read,
      retry: { retries: 10, minDelayMs: 50, maxDelayMs: 200 },
      onRetry: (event) => {
        events.push(event);
        if (events.length === 2) void apiProxy.open();
      },
    });
    expect(await client.health()).toEqual({ status: 'healthy' });
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events[0]?.error).toBeInstanceOf(TypeError);
  });

  it('a one-shot stream is not sent twice: its upload fails with the first error', async () => {
    await apiProxy.cut();
    const events: RetryEvent[] = [];
    const client = new StowageClient({
      baseUrl: `http://127.0.0.1:${apiProxy.port}`,
      apiKey: TEST_KEYS.artifacts,
      retry: { retries: 5, minDelayMs: 10 },
      onRetry: (event) => events.push(event),
    });
    const { error } = await rejection(
      client.uploadArtifact(
        { kind: 'sample', request_id: 'r', filename: 'x.log' },
        Readable.from([Buffer.from('once')]),
      ),
    );
    expect(error).toBeInstanceOf(TypeError);
    expect(events).toEqual([]);
    await apiProxy.open();
  });
});
