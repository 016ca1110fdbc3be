// A cancelled or timed-out job leaves nothing half-written (issue 16, Must show 1): an
// artifact.upload stopped mid-upload leaves no object and no incomplete multipart upload in
// Ceph RGW, and an iocs.insert stopped mid-merge leaves none of its batch in PostgreSQL —
// never part of it — and the batch sent again lands exactly once.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  artifactOverrides,
  dropArtifacts,
  spoolForJob,
  writeRandomFile,
} from '../helpers/artifacts.js';
import { StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;

/**
 * A pass-through in front of the real S3 that lets the first part of every multipart upload
 * through and holds each later UploadPart unanswered (a stalled S3, not a refusing one):
 * whatever stops the upload stops it with a part in flight and one already stored. A held
 * request the client gives up on is dropped. Everything else passes untouched (headers as
 * sent, so SigV4 signatures still match).
 */
class PartGate {
  private server: Server | undefined;
  private readonly passedOf = new Map<string, number>();
  private readonly held = new Set<IncomingMessage>();
  /** UploadPart requests held so far, by object key. */
  readonly heldFor = new Map<string, number>();

  constructor(private readonly target: URL) {}

  async open(): Promise<string> {
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://gate');
      const uploadId = url.searchParams.get('uploadId');
      const isPart =
        req.method === 'PUT' && uploadId !== null && url.searchParams.has('partNumber');
      if (isPart) {
        const passed = this.passedOf.get(uploadId) ?? 0;
        if (passed >= 1) {
          const key = decodeURIComponent(url.pathname.split('/').slice(2).join('/'));
          this.heldFor.set(key, (this.heldFor.get(key) ?? 0) + 1);
          this.held.add(req);
          req.resume();
          req.once('close', () => this.held.delete(req));
          return;
        }
        this.passedOf.set(uploadId, passed + 1);
      }
      const upstream = request(
        {
          host: this.target.hostname,
          port: this.target.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const req of this.held) req.socket.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('a stopped artifact.upload leaves no object and no incomplete upload', () => {
  let gate: PartGate;
  let source: Server;
  let overrides: Record<string, string>;
  let world: StowageWorld;
  let base: string;
  // Two parts and a tail: the first part is stored, the second is held by the gate.
  const body = randomBytes(2 * PART + 4096);
  const bodySha = createHash('sha256').update(body).digest('hex');

  beforeAll(async () => {
    gate = new PartGate(new URL(process.env.S3_ENDPOINT!));
    const endpoint = await gate.open();
    source = createServer((_req, res) => {
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    source.listen(0, '127.0.0.1');
    await new Promise((resolve) => source.once('listening', resolve));
    overrides = await artifactOverrides();
    world = new StowageWorld({
      ...overrides,
      S3_ENDPOINT: endpoint,
      UPLOAD_PART_SIZE_BYTES: String(PART),
      // One part in flight at a time: the first lands before the second is held.
      UPLOAD_QUEUE_SIZE: '1',
      URL_SOURCE_ALLOWLIST: '127.0.0.1',
    });
    await world.deps.artifacts.ensureBuckets();
    await world.startWorker(['artifacts']);
    base = await world.startApi();
  }, 60_000);
  afterAll(async () => {
    source?.closeAllConnections();
    await new Promise((resolve) => source?.close(resolve));
    // The buckets are dropped through the gate (it holds parts only), before it closes.
    await world?.close().finally(() => dropArtifacts(world.deps.s3, overrides));
    await gate?.close();
  });

  const bucket = () => world.deps.artifacts.bucketFor('sample');
  const uploadsOf = async (key: string) =>
    (
      (await world.deps.s3.send(new ListMultipartUploadsCommand({ Bucket: bucket(), Prefix: key })))
        .Uploads ?? []
    ).filter((u) => u.Key === key);
  const call = (path: string, init: RequestInit & { key: string }) =>
    fetch(`${base}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${init.key}`, ...(init.headers ?? {}) },
    });
  const readerState = async (id: string) =>
    (
      (await (await call(`/v1/jobs/${id}`, { key: TEST_KEYS.admin })).json()) as {
        state: string;
        failed_reason?: string;
      }
    ).state;

  /** Enqueues an upload of `body` to samples/<request>/<file> from the spool or the URL. */
  const enqueue = async (
    from: 'spool' | 'url',
    requestId: string,
    timeoutMs?: number,
  ): Promise<{ id: string; key: string }> => {
    const target = { kind: 'sample' as const, request_id: requestId, filename: 'a.bin' };
    const key = `samples/${requestId}/a.bin`;
    if (from === 'url') {
      // Through the API, as a collector would; X-Job-Timeout-Ms gives this job its own limit.
      const res = await call('/v1/jobs/artifact.upload', {
        key: TEST_KEYS.artifacts,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(timeoutMs === undefined ? {} : { 'X-Job-Timeout-Ms': String(timeoutMs) }),
        },
        body: JSON.stringify({
          target,
          source: {
            type: 'url',
            url: `http://127.0.0.1:${(source.address() as AddressInfo).port}/a.bin`,
            sha256: bodySha,
          },
        }),
      });
      expect(res.status).toBe(202);
      return { id: ((await res.json()) as { id: string }).id, key };
    }
    const raw = join(overrides.SPOOL_DIR!, `raw-${requestId}`);
    const sha256 = await writeRandomFile(raw, body.length);
    const spooled = await spoolForJob(world.producer, overrides.SPOOL_DIR!, raw, {
      target,
      source: { size: body.length, sha256 },
    });
    const job = await world.producer.enqueue('artifact.upload', spooled.payload, {
      trusted: true,
      jobId: spooled.jobId,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
    return { id: job.id, key };
  };

  /** Waits until the upload has one part stored and the next one in flight. */
  const midUpload = async (key: string) => {
    await eventually(
      () => Promise.resolve((gate.heldFor.get(key) ?? 0) >= 1 ? true : undefined),
      30_000,
      `a part of ${key} in flight after the first`,
    );
    // The multipart upload is open, with the first part in it.
    expect(await uploadsOf(key)).toHaveLength(1);
  };

  /** The job has ended; then no object and no incomplete upload remain under its key. */
  const leftNothing = async (id: string, key: string) => {
    const job = await eventually(
      async () => {
        const j = await world.queues.get('artifacts').getJob(id);
        return j?.finishedOn ? j : undefined;
      },
      30_000,
      `job ${id} finished`,
    );
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    await eventually(
      async () => ((await uploadsOf(key)).length === 0 ? true : undefined),
      20_000,
      `no incomplete multipart upload of ${key}`,
    );
    expect(await world.deps.artifacts.head('sample', key)).toBeUndefined();
    return job;
  };

  it.each(['spool', 'url'] as const)(
    'an active upload from the %s cancelled through the API ends cancelled and leaves nothing',
    async (from) => {
      const { id, key } = await enqueue(from, `cancel-${from}`);
      await midUpload(key);
      const res = await call(`/v1/jobs/${id}/cancel`, { key: TEST_KEYS.admin, method: 'POST' });
      expect(res.status).toBe(202);
      expect(await res.json()).toMatchObject({ id, state: 'cancelling' });
      const job = await leftNothing(id, key);
      expect(job.failedReason).toBe('job_cancelled: cancelled by admin-client');
      expect(await readerState(id)).toBe('cancelled');
    },
    90_000,
  );

  it.each(['spool', 'url'] as const)(
    'an upload from the %s past its own maximum duration fails job_timeout for good and leaves nothing',
    async (from) => {
      const { id, key } = await enqueue(from, `timeout-${from}`, 4_000);
      await midUpload(key);
      const job = await leftNothing(id, key);
      expect(job.failedReason).toBe('job_timeout: artifact.upload ran past 4000 ms');
      expect(await readerState(id)).toBe('failed');
    },
    90_000,
  );
});

/** n distinct domains, all hot, seen an hour ago. */
function iocBatch(n: number, tag: string) {
  const seen = new Date(Date.now() - 3_600_000).toISOString();
  return Array.from({ length: n }, (_, i) => ({
    type: 'domain' as const,
    value: `${tag}-${i}.example.com`,
    threat_type: 'c2',
    confidence: 0.9,
    source: 'otx',
    first_seen: seen,
    last_seen: seen,
    tags: [tag],
  }));
}

describe('a stopped iocs.insert leaves none of its batch in PostgreSQL, never part of it', () => {
  const N = 200;
  let world: StowageWorld;
  let base: string;
  /** A session of the test's own holding the iocs table against writes. */
  let blocker: pg.PoolClient | undefined;

  beforeEach(async () => {
    world = new StowageWorld({ HOT_STORE: 'postgres' });
    await world.initStores();
    await world.startWorker(['ingest']);
    base = await world.startApi();
  });
  afterEach(async () => {
    await blocker?.query('ROLLBACK').catch(() => undefined);
    blocker?.release();
    blocker = undefined;
    await world.close();
  });

  const table = () => `"${world.config.DATABASE_SCHEMA}".iocs`;
  const rowsOf = async (tag: string) =>
    Number(
      (
        await world.deps.pg.query<{ n: string }>(
          `SELECT count(*) AS n FROM ${table()} WHERE $1 = ANY(tags)`,
          [tag],
        )
      ).rows[0]!.n,
    );
  /** Sessions waiting for a lock on the iocs table: a merge stuck behind the blocker. */
  const waiting = async () =>
    Number(
      (
        await world.deps.pg.query<{ n: string }>(
          `SELECT count(*) AS n FROM pg_locks WHERE relation = $1::regclass AND NOT granted`,
          [table()],
        )
      ).rows[0]!.n,
    );
  /** Holds the table in SHARE mode: reads go on, every INSERT waits until it is let go. */
  const block = async () => {
    blocker = await world.deps.pg.connect();
    await blocker.query('BEGIN');
    await blocker.query(`LOCK TABLE ${table()} IN SHARE MODE`);
  };
  const unblock = async () => {
    await blocker!.query('ROLLBACK');
    blocker!.release();
    blocker = undefined;
  };
  const ingest = async (iocs: unknown[], headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}/v1/jobs/iocs.insert`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TEST_KEYS.ingest}`,
        'content-type': 'application/json',
        ...headers,
      },
      body: JSON.stringify({ iocs }),
    });
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  };
  const finished = (id: string) =>
    eventually(
      async () => {
        const job = await world.queues.get('ingest').getJob(id);
        return job?.finishedOn ? job : undefined;
      },
      60_000,
      `job ${id} finished`,
    );
  /** None or all of the batch: a partial count is the failure this file exists for. */
  const noneOrAll = async (tag: string) => {
    const n = await rowsOf(tag);
    expect([0, N]).toContain(n);
    return n;
  };

  it('a merge cancelled while it waits rolls back: the job ends cancelled, none of the batch lands, and the batch sent again lands once', async () => {
    const iocs = iocBatch(N, 'cancelled');
    await block();
    const id = await ingest(iocs);
    await eventually(
      async () => ((await waiting()) >= 1 ? true : undefined),
      30_000,
      'the merge waiting inside its transaction',
    );
    const res = await fetch(`${base}/v1/jobs/${id}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEYS.admin}` },
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ id, state: 'cancelling' });
    const job = await finished(id);
    expect(job.failedReason).toBe('job_cancelled: cancelled by admin-client');
    expect(await noneOrAll('cancelled')).toBe(0);
    // The cancelled merge let go of the table: no transaction of it is left to commit later.
    await eventually(
      async () => ((await waiting()) === 0 ? true : undefined),
      10_000,
      'no merge left waiting',
    );
    await unblock();
    expect(await noneOrAll('cancelled')).toBe(0);

    // Sent again (a new key: the cancelled job keeps the batch's own id), it lands exactly once.
    const again = await ingest(iocs, { 'Idempotency-Key': 'after-cancel' });
    expect(again).not.toBe(id);
    expect(await (await finished(again)).getState()).toBe('completed');
    expect(await noneOrAll('cancelled')).toBe(N);
    const stored = await world.deps.hotStore.getMany(iocs);
    expect(stored).toHaveLength(N);
    for (const ioc of stored) expect(ioc.sources).toEqual(['otx']);
  }, 120_000);

  it('a merge past its own maximum duration rolls back and is retried: the batch lands exactly once', async () => {
    const iocs = iocBatch(N, 'timedout');
    await block();
    const id = await ingest(iocs, { 'X-Job-Timeout-Ms': '1500' });
    const queue = world.queues.get('ingest');
    // The first attempt ran past 1.5 s inside its transaction and was stopped.
    const stopped = await eventually(
      async () => {
        const job = await queue.getJob(id);
        return job?.failedReason ? job : undefined;
      },
      30_000,
      'the first attempt timed out',
    );
    expect(stopped.failedReason).toBe('job_timeout: iocs.insert ran past 1500 ms');
    expect(await queue.getJobState(id)).not.toBe('failed');
    expect(await noneOrAll('timedout')).toBe(0);
    await unblock();
    const job = await finished(id);
    expect(await job.getState()).toBe('completed');
    expect(await noneOrAll('timedout')).toBe(N);
    const stored = await world.deps.hotStore.getMany(iocs);
    expect(stored).toHaveLength(N);
    for (const ioc of stored) expect(ioc.sources).toEqual(['otx']);
  }, 120_000);
});
