// Backpressure from the sinks: an S3 that answers `503 SlowDown` to the first object writes
// (a proxy in front of Ceph RGW) slows a real worker process's artifact queue down — each
// job goes back to wait without using an attempt — and every artifact still lands, verified,
// with no job failed and no attempt spent on the throttling.
import { createHash, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCli, type CliProcess } from '../helpers/cli-process.js';
import { bucketsOf, artifactOverrides, objectDigest } from '../helpers/artifacts.js';
import { removeBucket } from '../helpers/buckets.js';
import { S3SlowDownProxy } from '../helpers/s3-slowdown-proxy.js';
import { StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';

const ARTIFACTS = 6;
// The SDK tries each request 3 times itself: 24 refusals are about 8 job-level SlowDowns.
const REFUSED_WRITES = 24;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('backpressure from a saturated S3', () => {
  let proxy: S3SlowDownProxy;
  let overrides: Record<string, string>;
  let world: StowageWorld;
  let base: string;
  let worker: CliProcess | undefined;
  let metricsUrl: string;

  beforeAll(async () => {
    overrides = await artifactOverrides();
    proxy = new S3SlowDownProxy(new URL(process.env.S3_ENDPOINT!), REFUSED_WRITES);
    const endpoint = await proxy.open();
    world = new StowageWorld({ ...overrides, S3_ENDPOINT: endpoint });
    // Buckets and schema made before the proxy refuses anything (bucket PUTs pass anyway).
    await world.initStores();
    base = await world.startApi();
    const metricsPort = await freePort();
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    worker = runCli(['worker'], {
      ...overrides,
      S3_ENDPOINT: endpoint,
      QUEUE_PREFIX: world.config.QUEUE_PREFIX,
      DATABASE_SCHEMA: world.config.DATABASE_SCHEMA,
      CLICKHOUSE_DATABASE: world.config.CLICKHOUSE_DATABASE,
      WORKER_QUEUES: 'artifacts',
      WORKER_CONCURRENCY: 'artifacts=2',
      WORKER_METRICS_PORT: String(metricsPort),
      LOG_LEVEL: 'info',
      LOG_PRETTY: 'false',
    });
    await eventually(
      () => Promise.resolve(worker!.output().includes('worker started') ? true : undefined),
      90_000,
      'the worker process to start',
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${worker!.output().slice(-3_000)}`);
    });
  }, 180_000);
  afterAll(async () => {
    if (worker && worker.child.exitCode === null) {
      worker.child.kill('SIGTERM');
      await worker.exited;
    }
    await world?.close();
    await proxy?.close();
    for (const bucket of bucketsOf(overrides ?? {})) {
      await removeBucket(world.deps.s3, bucket).catch(() => undefined);
    }
    if (overrides?.SPOOL_DIR) await rm(overrides.SPOOL_DIR, { recursive: true, force: true });
  });

  it('slows the artifact workers down without a single job failing for good', async () => {
    const uploads = await Promise.all(
      Array.from({ length: ARTIFACTS }, async (_, i) => {
        const bytes = randomBytes(64 * 1024 + i);
        const res = await fetch(
          `${base}/v1/artifacts/sample?request_id=slow-${i}&filename=part-${i}.log`,
          {
            method: 'POST',
            headers: {
              authorization: `Bearer ${TEST_KEYS.artifacts}`,
              'content-type': 'application/octet-stream',
            },
            body: bytes,
          },
        );
        expect(res.status).toBe(202);
        const body = (await res.json()) as { id: string; key: string; bucket: string };
        return { ...body, bytes };
      }),
    );

    const queue = world.queues.get('artifacts');
    const jobs = await eventually(
      async () => {
        const all = await Promise.all(uploads.map((u) => queue.getJob(u.id)));
        return all.every((j) => j?.finishedOn !== undefined) ? all : undefined;
      },
      180_000,
      'every artifact.upload job to finish',
    );
    // Every object write S3 refused happened, and the queue got past them.
    expect(proxy.refused).toBe(REFUSED_WRITES);
    expect(proxy.passed).toBeGreaterThanOrEqual(ARTIFACTS);
    for (const job of jobs) {
      expect(await job!.getState()).toBe('completed');
      // The throttled tries used no attempt: the one that worked was the first.
      expect(job!.attemptsMade).toBe(1);
    }
    expect(await queue.getFailedCount()).toBe(0);
    const throttledStarts = jobs.reduce((n, j) => n + (j!.attemptsStarted - j!.attemptsMade), 0);
    expect(throttledStarts).toBeGreaterThanOrEqual(1);

    // Every artifact landed, byte for byte.
    for (const upload of uploads) {
      const stored = await objectDigest(world.deps.s3, upload.bucket, upload.key);
      expect(stored).toEqual({ sha256: sha256(upload.bytes), bytes: upload.bytes.length });
    }

    // Throttling is observed: the worker's metric and its log.
    const metrics = await (await fetch(metricsUrl)).text();
    const throttles = [
      ...metrics.matchAll(
        /^stowage_sink_throttles_total\{[^}]*queue="artifacts"[^}]*code="storage_unavailable"[^}]*\} (\d+)/gm,
      ),
    ].reduce((n, m) => n + Number(m[1]), 0);
    expect(throttles).toBeGreaterThanOrEqual(throttledStarts);
    expect(metrics).toMatch(/stowage_sink_throttle_seconds_total\{[^}]*queue="artifacts"/);
    expect(worker!.output()).toContain('sink saturated, queue artifacts slowed');
    expect(worker!.output()).not.toContain('job failed permanently');
  });
});
