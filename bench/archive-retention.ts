/**
 * Archive and retention of one past UTC day of the hot store, per backend:
 *
 * 1. archive.lock of a day holding N rows into an Object Lock bucket (GOVERNANCE, 1 year,
 *    SSE-KMS), in-process with the job's own handler: rows/s and MiB/s (NDJSON and gzip),
 *    against the same rows read by streamWindow and gzip'd by the same part builder with
 *    the output thrown away (written to /dev/null), no S3, in the same run.
 * 2. Ingest throughput (HTTP POST /v1/ingest/iocs watermark flows of 1,000 IOCs until the
 *    flow is completed, i.e. its rows are visible; api and one worker on `ingest` as
 *    processes) alone for a fixed time, then while retention.cleanup (in-process, hot
 *    target) deletes the day in RETENTION_BATCH_SIZE batches.
 *
 * One JSON line per backend on stdout; progress on stderr.
 *
 *   npx tsx bench/archive-retention.ts [--rows 1000000] [--backend postgres|clickhouse|both]
 *     [--ingest-seconds 60] [--collectors 4]
 *
 * RETENTION_BATCH_SIZE and ARCHIVE_PART_ROWS come from the environment like any setting
 * (defaults 10,000 and 100,000); the JSON line says which were used.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { createGunzip } from 'node:zlib';
import {
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { ClickHouseClient } from '@clickhouse/client';
import { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { createArchiveLockHandler } from '../jobs/archive-lock/handler.js';
import { GzipNdjsonPart } from '../jobs/archive-lock/gzip-part.js';
import type { JobContext } from '../jobs/job-definition.js';
import { createRetentionCleanupHandler } from '../jobs/retention-cleanup/handler.js';
import type { RetentionReport } from '../jobs/retention-cleanup/report.js';
import { loadConfig, type Config, type QueueName } from '../src/config.js';
import { createRoot, type Root } from '../src/composition/root.js';
import { archiveManifestKey, type ArchiveManifest } from '../src/domain/archive.js';
import type { IocType, StoredIoc } from '../src/domain/ioc.js';
import { UTC_DAY_MS, utcDayOf, utcDayWindow } from '../src/domain/utc-day.js';
import { createLogger } from '../src/log.js';
import { serviceEnv, startServices } from '../test/helpers/services.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    backend: { type: 'string', default: 'both' },
    'ingest-seconds': { type: 'string', default: '60' },
    collectors: { type: 'string', default: '4' },
    // off: archive.lock writes no archive index (the A/B of its cost; no look-up figures).
    'archive-index': { type: 'string', default: 'on' },
  },
});
const ROWS = Number(values.rows);
const INGEST_SECONDS = Number(values['ingest-seconds']);
const COLLECTORS = Number(values.collectors);
const BACKENDS = (values.backend === 'both' ? ['postgres', 'clickhouse'] : [values.backend]) as (
  'postgres' | 'clickhouse'
)[];
if (!BACKENDS.every((b) => b === 'postgres' || b === 'clickhouse')) {
  throw new Error(`--backend must be postgres, clickhouse or both, not ${values.backend}`);
}
if (!Number.isSafeInteger(ROWS) || ROWS < 1) throw new Error('--rows must be a positive integer');
if (!(INGEST_SECONDS > 0) || !Number.isSafeInteger(COLLECTORS) || COLLECTORS < 1) {
  throw new Error('--ingest-seconds must be positive and --collectors a positive integer');
}

// The archived day: well past the 90-day hot window, so retention may take it.
const DAY_AGE = 100;
const HOT_DAYS = 90;
const LOAD_BATCH = 20_000;
const FLOW_IOCS = 1_000;
// Ingest runs this long before a measurement window opens (connections, JIT, first flows).
const WARMUP_MS = 5_000;
const FLOW_TIMEOUT_MS = 120_000;
const MiB = 1024 * 1024;

/** Undo steps, run last-in first-out, once: after a backend's run, on failure or on a signal. */
class Cleanup {
  private readonly steps: { what: string; run: () => Promise<unknown> }[] = [];

  add(what: string, run: () => Promise<unknown>): void {
    this.steps.push({ what, run });
  }

  private running: Promise<void> | undefined;

  /** Runs the steps; a second call (a signal while a run fails) waits for the same run. */
  run(): Promise<void> {
    return (this.running ??= this.runSteps());
  }

  private async runSteps(): Promise<void> {
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step.run();
      } catch (err) {
        process.stderr.write(`cleanup: ${step.what} failed: ${String(err)}\n`);
      }
    }
  }
}

let current: Cleanup | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`${signal}: cleaning up\n`);
    void (current?.run() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

const say = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, digits = 1) => Number(x.toFixed(digits));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function waitFor<T>(
  check: () => Promise<T | undefined>,
  ms: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(100);
  }
}

/** A Stowage process (`api`, `worker …`); a premature exit is recorded, not ignored. */
class StowageProcess {
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private stopping = false;
  private failure: Error | undefined;

  constructor(
    readonly name: string,
    args: string[],
    env: NodeJS.ProcessEnv,
  ) {
    this.child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        if (!this.stopping) this.failure = new Error(`${name} exited (${signal ?? code})`);
        resolve();
      }),
    );
  }

  /** Throws if the process has exited on its own. */
  assertAlive(): void {
    if (this.failure) throw this.failure;
  }

  /** SIGTERM, then SIGKILL if it has not exited within 15 s. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** The i-th of n rows last seen on a day: domains, IPv4 addresses and SHA-256 digests. */
function loadedRow(dayStart: number, i: number, n: number): StoredIoc {
  const kinds: IocType[] = ['domain', 'domain', 'ipv4', 'sha256'];
  const type = kinds[i % 4]!;
  const value =
    type === 'domain'
      ? `d${i}.bench-feed.example.com`
      : type === 'ipv4'
        ? `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
        : createHash('sha256').update(String(i)).digest('hex');
  return {
    type,
    value,
    threat_type: ['c2', 'phishing', 'malware', 'botnet'][i % 4]!,
    confidence: ((i * 7) % 100) / 100,
    sources: i % 5 === 0 ? ['abuse_ch', 'otx'] : ['otx'],
    first_seen: new Date(dayStart - (i % 30) * UTC_DAY_MS),
    last_seen: new Date(dayStart + Math.floor((i * UTC_DAY_MS) / n)),
    tags: i % 3 === 0 ? ['apt'] : i % 3 === 1 ? [] : ['ransomware', 'tor'],
  };
}

/** The context a worker would hand a handler, for one in-process attempt; progress goes to stderr. */
function jobContext(deps: Root, name: string, queue: QueueName): JobContext {
  let lastReport = 0;
  return {
    jobId: `${name}.bench`,
    name,
    queue,
    attempt: 1,
    maxAttempts: 1,
    log: deps.log,
    metrics: deps.metrics.forJob(queue, name),
    signal: new AbortController().signal,
    progress: (value) => {
      // Every 30 s at most: enough to see the pace of a long run.
      if (performance.now() - lastReport > 30_000) {
        lastReport = performance.now();
        say(`${name}: ${JSON.stringify(value)}`);
      }
      return Promise.resolve();
    },
    checkpoint: undefined,
    meta: {},
    saveCheckpoint: () => Promise.resolve(),
    childResults: () => Promise.resolve({}),
    note: () => undefined,
  };
}

/**
 * The baseline: the day read by streamWindow with archive.lock's page and part sizes, each
 * part built by the same GzipNdjsonPart and written to /dev/null. Seconds.
 */
async function gzipToDevNull(deps: Root, day: string): Promise<number> {
  const settings = deps.settings.archive;
  const pageRows = Math.min(settings.partRows, 10_000);
  const { start, end } = utcDayWindow(day);
  const t = performance.now();
  let part = new GzipNdjsonPart();
  const flush = async () => {
    await writeFile('/dev/null', (await part.finish()).body);
    part = new GzipNdjsonPart();
  };
  for await (const page of deps.hotStore.streamWindow(start, end, pageRows)) {
    for (let i = 0; i < page.length;) {
      const take = Math.min(page.length - i, settings.partRows - part.rows);
      await part.write(page.slice(i, i + take));
      i += take;
      if (part.rows === settings.partRows) await flush();
    }
  }
  if (part.rows > 0) await flush();
  return (performance.now() - t) / 1000;
}

async function objectBody(s3: S3Client, bucket: string, key: string, versionId?: string) {
  const out = await s3.send(
    new GetObjectCommand({
      Bucket: bucket,
      Key: key,
      ...(versionId ? { VersionId: versionId } : {}),
    }),
  );
  return out.Body as Readable;
}

/** Reads back the archived day (untimed): rows and uncompressed NDJSON bytes of its parts. */
async function readBack(deps: Root, day: string): Promise<{ rows: number; ndjsonBytes: number }> {
  const bucket = deps.config.ARCHIVE_BUCKET;
  let text = '';
  for await (const chunk of await objectBody(deps.s3, bucket, archiveManifestKey(day))) {
    text += (chunk as Buffer).toString('utf8');
  }
  const manifest = JSON.parse(text) as ArchiveManifest;
  let rows = 0;
  let ndjsonBytes = 0;
  for (const p of manifest.parts) {
    const body = await objectBody(deps.s3, bucket, p.key, p.version_id ?? undefined);
    for await (const chunk of body.pipe(createGunzip())) {
      const b = chunk as Buffer;
      ndjsonBytes += b.length;
      for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) rows += 1;
    }
  }
  return { rows, ndjsonBytes };
}

/** Resolves when a job reaches completed (from the queue's event stream); rejects on failed. */
class JobWaiter {
  private readonly waiting = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
  private readonly finished = new Map<string, string | null>();

  constructor(events: QueueEvents) {
    events.on('completed', ({ jobId }) => this.settle(jobId, null));
    events.on('failed', ({ jobId, failedReason }) => this.settle(jobId, failedReason));
  }

  private settle(id: string, failure: string | null) {
    const w = this.waiting.get(id);
    if (!w) {
      this.finished.set(id, failure);
      return;
    }
    this.waiting.delete(id);
    if (failure === null) w.resolve();
    else w.reject(new Error(`job ${id} failed: ${failure}`));
  }

  wait(id: string, ms: number): Promise<void> {
    const done = this.finished.get(id);
    if (done !== undefined) {
      this.finished.delete(id);
      return done === null ? Promise.resolve() : Promise.reject(new Error(`job ${id}: ${done}`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`job ${id} not finished within ${ms} ms`));
      }, ms);
      this.waiting.set(id, {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }
}

/**
 * Closed-loop collectors: each posts a watermark flow of FLOW_IOCS distinct IOCs, waits until
 * the flow has completed (every insert done, watermark committed), and posts the next.
 */
class IngestLoad {
  /** performance.now() of each completed flow. */
  readonly completions: number[] = [];
  private stopping = false;
  private running: Promise<void> | undefined;
  private seq = 0;

  constructor(
    private readonly base: string,
    private readonly key: string,
    private readonly waiter: JobWaiter,
    private readonly processes: readonly StowageProcess[],
    private readonly tag: string,
  ) {}

  start(): void {
    this.stopping = false;
    const loops = Array.from({ length: COLLECTORS }, (_, c) => this.collector(c));
    // The first failure stops every collector; stop() rethrows it.
    this.running = Promise.all(loops).then(
      () => undefined,
      (err: unknown) => {
        this.stopping = true;
        throw err;
      },
    );
    this.running.catch(() => undefined);
  }

  /** Lets every collector finish its flow in flight, then returns. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  /** IOCs/s of the flows completed in [from, to] (performance.now() times). */
  rate(from: number, to: number): number {
    const flows = this.completions.filter((t) => t >= from && t <= to).length;
    return (flows * FLOW_IOCS) / ((to - from) / 1000);
  }

  get iocs(): number {
    return this.completions.length * FLOW_IOCS;
  }

  private async collector(c: number): Promise<void> {
    while (!this.stopping) {
      for (const p of this.processes) p.assertAlive();
      const seq = this.seq++;
      const now = Date.now();
      const iocs = Array.from({ length: FLOW_IOCS }, (_, j) => ({
        type: 'domain',
        value: `i${j}.f${seq}.${this.tag}.ingest.example.com`,
        threat_type: j % 3 === 0 ? 'c2' : 'phishing',
        // Half hot, so iocs.insert also writes the cache, as a live feed would.
        confidence: j % 2 === 0 ? 0.9 : 0.5,
        first_seen: new Date(now - 5 * 3_600_000).toISOString(),
        last_seen: new Date(now - 3_600_000).toISOString(),
        tags: [`t${j % 4}`],
      }));
      const res = await fetch(`${this.base}/v1/ingest/iocs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          source_id: `bench-c${c}`,
          iocs,
          watermark: { timestamp: new Date(now).toISOString() },
        }),
      });
      const body = (await res.json()) as { id?: string };
      if (res.status !== 202 || !body.id) {
        throw new Error(`ingest answered ${res.status}: ${JSON.stringify(body)}`);
      }
      await this.waiter.wait(body.id, FLOW_TIMEOUT_MS);
      this.completions.push(performance.now());
    }
  }
}

/** Deletes every key matching a pattern (SCAN, so a shared Redis is not blocked). */
async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}

/** Deletes every version in a bucket (GOVERNANCE bypassed), then the bucket; a missing one is fine. */
async function deleteBucket(s3: S3Client, bucket: string): Promise<void> {
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  for (;;) {
    const out = await s3
      .send(
        new ListObjectVersionsCommand({
          Bucket: bucket,
          ...(keyMarker ? { KeyMarker: keyMarker } : {}),
          ...(versionMarker ? { VersionIdMarker: versionMarker } : {}),
        }),
      )
      .catch((err: unknown) => {
        if ((err as { name?: string }).name === 'NoSuchBucket') return undefined;
        throw err;
      });
    if (!out) return;
    for (const v of [...(out.Versions ?? []), ...(out.DeleteMarkers ?? [])]) {
      await s3.send(
        new DeleteObjectCommand({
          Bucket: bucket,
          Key: v.Key!,
          VersionId: v.VersionId!,
          BypassGovernanceRetention: true,
        }),
      );
    }
    if (!out.IsTruncated) break;
    keyMarker = out.NextKeyMarker;
    versionMarker = out.NextVersionIdMarker;
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
}

/**
 * Drops a ClickHouse database. With mutations still running (a run stopped during
 * retention) 18.16 can reset the connection although the drop goes through, so the answer
 * is whether the database is gone, retried for a while.
 */
async function dropClickHouseDatabase(client: ClickHouseClient, name: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const error = await client.command({ query: `DROP DATABASE IF EXISTS ${name}` }).then(
      () => undefined,
      (err: unknown) => err,
    );
    if (error === undefined) return;
    const rows = await client
      .query({
        query: `SELECT count() AS n FROM system.databases WHERE name = '${name}'`,
        format: 'JSONEachRow',
      })
      .then((r) => r.json<{ n: string | number }>())
      .catch(() => [{ n: 1 }]);
    if (Number(rows[0]?.n) === 0) return;
    if (attempt === 10) throw error instanceof Error ? error : new Error('DROP DATABASE failed');
    await sleep(3_000);
  }
}

async function runBackend(backend: 'postgres' | 'clickhouse', cleanup: Cleanup) {
  const loadStart = loadavg().map((l) => round(l, 2));
  const suffix = randomBytes(4).toString('hex');
  const key = randomBytes(24).toString('hex');
  const port = await freePort();
  const spool = mkdtempSync(join(tmpdir(), 'stowage-bench-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...serviceEnv(),
    HOT_STORE: backend,
    QUEUE_PREFIX: `bench${suffix}`,
    DATABASE_SCHEMA: `bench_${suffix}`,
    CLICKHOUSE_DATABASE: `bench_${suffix}`,
    ARCHIVE_BUCKET: `bench-archive-${suffix}`,
    ARTIFACT_BUCKET_SAMPLES: `bench-samples-${suffix}`,
    ARTIFACT_BUCKET_TA_BUNDLES: `bench-tas-${suffix}`,
    ARTIFACT_BUCKET_DEBUG_BUNDLES: `bench-debug-${suffix}`,
    ARCHIVE_LOCK_MODE: 'GOVERNANCE',
    ARCHIVE_RETENTION_YEARS: '1',
    ARCHIVE_SSE: 'aws:kms',
    ARCHIVE_KMS_KEY_ID: 'stowage-archive-key',
    SPOOL_DIR: spool,
    API_PORT: String(port),
    API_KEYS: `bench:${key}:ingest+read+admin`,
    LOG_LEVEL: 'warn',
  };
  const config: Config = loadConfig(env);
  const deps = createRoot(config, createLogger(config, { process: 'bench' }), { role: 'cli' });

  // Registered before anything is created, so a failure at any point undoes what exists.
  cleanup.add('close connections', () => deps.close());
  cleanup.add('remove spool', () => {
    rmSync(spool, { recursive: true, force: true });
    return Promise.resolve();
  });
  for (const bucket of [
    config.ARCHIVE_BUCKET,
    config.ARTIFACT_BUCKET_SAMPLES,
    config.ARTIFACT_BUCKET_TA_BUNDLES,
    config.ARTIFACT_BUCKET_DEBUG_BUNDLES,
  ]) {
    cleanup.add(`delete bucket ${bucket}`, () => deleteBucket(deps.s3, bucket));
  }
  cleanup.add('delete redis keys', async () => {
    await deleteKeys(deps.redis, `${config.QUEUE_PREFIX}:*`);
    await deleteKeys(deps.cacheRedis, `${config.QUEUE_PREFIX}:*`);
  });
  cleanup.add(`drop schema ${config.DATABASE_SCHEMA}`, () =>
    deps.pg.query(`DROP SCHEMA IF EXISTS "${config.DATABASE_SCHEMA}" CASCADE`),
  );
  if (backend === 'clickhouse') {
    cleanup.add(`drop database ${config.CLICKHOUSE_DATABASE}`, () =>
      dropClickHouseDatabase(deps.clickhouse, config.CLICKHOUSE_DATABASE),
    );
  }

  await deps.initStores();
  await deps.wormArchive.ensureBucket();

  // Load (untimed for the figures, timed for the log).
  const day = utcDayOf(new Date(Date.now() - DAY_AGE * UTC_DAY_MS));
  const dayStart = utcDayWindow(day).start.getTime();
  say(`${backend}: loading ${ROWS} rows last seen on ${day}`);
  let t = performance.now();
  for (let i = 0; i < ROWS; i += LOAD_BATCH) {
    const batch: StoredIoc[] = [];
    for (let j = i; j < Math.min(ROWS, i + LOAD_BATCH); j++)
      batch.push(loadedRow(dayStart, j, ROWS));
    await deps.hotStore.upsert(batch);
  }
  const loadS = (performance.now() - t) / 1000;
  if (backend === 'postgres') {
    // A day 100 days old has long been vacuumed and analysed by autovacuum.
    await deps.pg.query(`VACUUM ANALYZE "${config.DATABASE_SCHEMA}".iocs`);
  }
  say(`${backend}: loaded in ${loadS.toFixed(1)} s`);

  // 1. Archive, between two baselines (the first also warms the caches for both).
  const baseline1 = await gzipToDevNull(deps, day);
  say(`${backend}: baseline (streamWindow + gzip → /dev/null) ${baseline1.toFixed(1)} s`);
  const archive = createArchiveLockHandler({
    hotStore: deps.hotStore,
    ledger: deps.archiveLedger,
    archive: deps.wormArchive,
    settings: deps.settings.archive,
    ...(values['archive-index'] === 'off' ? {} : { index: deps.archiveIndex }),
  });
  t = performance.now();
  const archived = await archive(
    { day, max_days: 31 },
    jobContext(deps, 'archive.lock', 'archive'),
  );
  const archiveS = (performance.now() - t) / 1000;
  say(`${backend}: archive.lock ${archiveS.toFixed(1)} s, ${JSON.stringify(archived.days[0])}`);
  const baseline2 = await gzipToDevNull(deps, day);
  say(`${backend}: baseline again ${baseline2.toFixed(1)} s`);
  if (archived.rows !== ROWS) throw new Error(`archived ${archived.rows} rows, not ${ROWS}`);
  const back = await readBack(deps, day);
  if (back.rows !== ROWS) throw new Error(`the archive holds ${back.rows} lines, not ${ROWS}`);
  const baselineS = (baseline1 + baseline2) / 2;
  const ndjsonMiB = back.ndjsonBytes / MiB;
  const gzipMiB = archived.bytes / MiB;

  // 2. Ingest alone, then while retention.cleanup deletes the day.
  const api = new StowageProcess('api', ['api'], env);
  const worker = new StowageProcess('worker', ['worker', '--queues', 'ingest'], env);
  cleanup.add('stop api and worker', () => Promise.all([api.stop(), worker.stop()]));
  const events = new QueueEvents('ingest', {
    connection: deps.connectRedis('bench-events'),
    prefix: config.QUEUE_PREFIX,
    // The queue is new: reading its stream from the start cannot miss an early event.
    lastEventId: '0',
  });
  cleanup.add('close queue events', () => events.close());
  await events.waitUntilReady();
  const base = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      api.assertAlive();
      worker.assertAlive();
      const res = await fetch(`${base}/ready`).catch(() => undefined);
      return res?.ok ? true : undefined;
    },
    60_000,
    'api ready',
  );
  const waiter = new JobWaiter(events);

  say(`${backend}: ingest alone for ${INGEST_SECONDS} s (${COLLECTORS} collectors)`);
  const alone = new IngestLoad(base, key, waiter, [api, worker], `a${suffix}`);
  alone.start();
  await sleep(WARMUP_MS);
  const a0 = performance.now();
  await sleep(INGEST_SECONDS * 1000);
  const a1 = performance.now();
  await alone.stop();
  const aloneRate = alone.rate(a0, a1);
  const expected = ROWS + alone.iocs;
  const counted = await deps.hotStore.count();
  if (counted !== expected) throw new Error(`store holds ${counted} rows, expected ${expected}`);
  say(`${backend}: ingest alone ${Math.round(aloneRate)} IOCs/s`);

  say(`${backend}: ingest while retention.cleanup deletes ${ROWS} rows`);
  const during = new IngestLoad(base, key, waiter, [api, worker], `b${suffix}`);
  during.start();
  await sleep(WARMUP_MS);
  const retention = createRetentionCleanupHandler({
    settings: deps.settings.retention,
    hotRetention: deps.hotRetention,
    archiveLedger: deps.archiveLedger,
    sampleRetention: deps.sampleRetention,
    plans: deps.maintenancePlans,
  });
  const r0 = performance.now();
  const report = (await retention(
    { dry_run: false, hot_days: HOT_DAYS, targets: ['hot'] },
    jobContext(deps, 'retention.cleanup', 'maintenance'),
  )) as RetentionReport;
  const r1 = performance.now();
  await during.stop();
  const hot = report.targets.hot;
  if (hot?.rows !== ROWS) throw new Error(`retention deleted ${hot?.rows} rows, not ${ROWS}`);
  const left = await deps.hotStore.count();
  if (left !== alone.iocs + during.iocs) {
    throw new Error(`store holds ${left} rows, expected ${alone.iocs + during.iocs} ingested`);
  }
  const retentionS = (r1 - r0) / 1000;
  const duringRate = during.rate(r0, r1);
  say(`${backend}: retention ${retentionS.toFixed(1)} s, ingest ${Math.round(duringRate)} IOCs/s`);

  // 3. Look-ups of archived rows (gone from the hot store) through the api, one at a time:
  // the first of each key reads the index, the manifest and one part; the second the memo.
  const lookups =
    values['archive-index'] === 'off' ? undefined : await archiveLookups(base, key, dayStart);
  if (lookups) say(`${backend}: archive look-ups ${JSON.stringify(lookups)}`);

  return {
    backend,
    rows: ROWS,
    day,
    load_rows_s: Math.round(ROWS / loadS),
    part_rows: config.ARCHIVE_PART_ROWS,
    parts: archived.days[0]?.parts ?? 0,
    ndjson_mib: round(ndjsonMiB),
    gzip_mib: round(gzipMiB),
    baseline_s: [round(baseline1, 2), round(baseline2, 2)],
    baseline_rows_s: Math.round(ROWS / baselineS),
    baseline_ndjson_mib_s: round(ndjsonMiB / baselineS),
    baseline_gzip_mib_s: round(gzipMiB / baselineS, 2),
    archive_s: round(archiveS, 2),
    archive_rows_s: Math.round(ROWS / archiveS),
    archive_ndjson_mib_s: round(ndjsonMiB / archiveS),
    archive_gzip_mib_s: round(gzipMiB / archiveS, 2),
    archive_vs_baseline: round(baselineS / archiveS, 3),
    retention_batch_size: config.RETENTION_BATCH_SIZE,
    retention_batches: hot.batches,
    // What else the table held when retention began (ClickHouse rewrites all of it per mutation).
    table_rows_at_retention: expected,
    retention_s: round(retentionS, 2),
    retention_rows_s: Math.round(ROWS / retentionS),
    collectors: COLLECTORS,
    flow_iocs: FLOW_IOCS,
    ingest_alone_s: round((a1 - a0) / 1000),
    ingest_alone_iocs_s: Math.round(aloneRate),
    ingest_during_s: round(retentionS),
    ingest_during_iocs_s: Math.round(duringRate),
    ingest_ratio: round(duringRate / aloneRate, 3),
    archive_index: values['archive-index'] !== 'off',
    ...(lookups ? { archive_lookup: lookups } : {}),
    loadavg_start: loadStart,
    loadavg_end: loadavg().map((l) => round(l, 2)),
  };
}

/** Latency (ms) of GET /v1/iocs look-ups answered from the archive: first read, then the memo. */
async function archiveLookups(base: string, key: string, dayStart: number) {
  const SAMPLES = 40;
  const first: number[] = [];
  const memo: number[] = [];
  for (let k = 0; k < SAMPLES; k++) {
    const row = loadedRow(dayStart, Math.floor((k * ROWS) / SAMPLES), ROWS);
    const url = `${base}/v1/iocs/${row.type}/${encodeURIComponent(row.value)}?use_cache=false`;
    for (const into of [first, memo]) {
      const t0 = performance.now();
      const res = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
      const body = (await res.json()) as { tier?: string };
      into.push(performance.now() - t0);
      if (res.status !== 200 || body.tier !== 'archive') {
        throw new Error(`archive look-up of ${row.value}: ${res.status} ${JSON.stringify(body)}`);
      }
    }
  }
  const pct = (xs: number[], p: number) =>
    round([...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!, 1);
  return {
    samples: SAMPLES,
    first_p50_ms: pct(first, 0.5),
    first_p95_ms: pct(first, 0.95),
    first_max_ms: pct(first, 1),
    memo_p50_ms: pct(memo, 0.5),
  };
}

async function main() {
  await startServices();
  for (const backend of BACKENDS) {
    const cleanup = new Cleanup();
    current = cleanup;
    try {
      const result = await runBackend(backend, cleanup);
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } finally {
      await cleanup.run();
      current = undefined;
    }
  }
}

try {
  await main();
  process.exit(0);
} catch (err) {
  // Everything this run created is gone by now (main's finally awaited the cleanup).
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
