// The chaos run: the api and several workers as whole processes against the real local
// services, a mixed workload sent over HTTP as a client would (retrying what was not
// acknowledged, with the same Idempotency-Key), and faults injected while it runs: kill -9,
// rolling SIGTERM during long uploads, a Redis restart, and an outage of PostgreSQL,
// ClickHouse and S3 in turn. Afterwards every sink is checked against a clean run's state.
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  type ObjectVersion,
} from '@aws-sdk/client-s3';
import { Job, Queue } from 'bullmq';
import { loadConfig, QUEUE_NAMES, type Config, type QueueName } from '../../src/config.js';
import { createRoot, type Root } from '../../src/composition/root.js';
import { createLogger } from '../../src/log.js';
import { archiveDayPrefix, archiveLine } from '../../src/domain/archive.js';
import type { StoredIoc } from '../../src/domain/ioc.js';
import { incompleteUploads, objectDigest, writeRandomFile } from '../helpers/artifacts.js';
import { pick, seededRandom } from '../helpers/hot-store.js';
import { restartService, serviceEnv, startServices, stopService } from '../helpers/services.js';
import { freePort } from '../helpers/cli-process.js';
import { runInit, SupervisedProcess } from './processes.js';
import {
  buildWorkload,
  expectedRows,
  expectedWatermarks,
  type ArtifactUpload,
  type IngestRequest,
  type WorkloadSize,
} from './workload.js';

/** The faults of a run, in the order they are injected. */
export interface FaultPlan {
  /** kill -9 of a random worker, spread over the run. */
  kills: number;
  restartRedis: boolean;
  /** Services taken away one at a time, each for outageMs. */
  outages: ('postgres' | 'clickhouse' | 's3-gateway')[];
  outageMs: number;
  /** SIGTERM every worker in turn while the large uploads run. */
  rollingRestart: boolean;
}

/** Everything a run is made of. */
export interface ChaosOptions {
  size: WorkloadSize;
  faults: FaultPlan;
  workers: number;
  hotStore: 'postgres' | 'clickhouse';
  seed: number;
  /** Where process logs and artifact files go (kept after the run for a post-mortem). */
  runDir: string;
  /** How long to wait for the queues to drain once the faults are over. */
  drainTimeoutMs: number;
  progress?: (line: string) => void;
}

/** What a run did and what the checks found; every count under `found` must be 0. */
export interface ChaosReport {
  runId: string;
  hotStore: 'postgres' | 'clickhouse';
  seconds: number;
  workload: {
    ingestRequests: number;
    iocsSent: number;
    distinctIocs: number;
    artifacts: number;
    artifactBytes: number;
    maintenanceJobs: number;
  };
  /** Jobs behind the 202 answers: flows count their parent and every child. */
  jobsAcknowledged: number;
  jobsByType: Record<string, number>;
  /** Jobs that needed more than one attempt, and the attempts beyond the first. */
  jobsRetried: number;
  retries: number;
  /** Jobs taken back from a dead worker (BullMQ's stalled-job check). */
  jobsStalled: number;
  requests: { sent: number; retried: number; statuses: Record<string, number> };
  faults: {
    kills: number;
    sigterms: number;
    redisRestarts: number;
    outages: { service: string; seconds: number }[];
    workerStarts: number;
  };
  found: {
    lostJobs: number;
    failedJobs: number;
    wrongRows: number;
    missingRows: number;
    extraRows: number;
    staleCacheEntries: number;
    wrongWatermarks: number;
    watermarkHistory: number;
    lostObjects: number;
    duplicatedObjects: number;
    badDigests: number;
    incompleteUploads: number;
    spoolFilesLeft: number;
    archiveProblems: number;
    serverErrors: number;
    /** Exits of the api or a worker that the run did not cause (its kill -9 and SIGTERMs). */
    processCrashes: number;
  };
  /** The first problems in words, for the failure message. */
  problems: string[];
}

const SECRET = `chaos-admin-${randomBytes(12).toString('hex')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the chaos scenario once and reports what the sinks hold against a clean run. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const run = new ChaosRun(options);
  try {
    return await run.execute();
  } finally {
    await run.close();
  }
}

class ChaosRun {
  private readonly runId = `c${randomBytes(4).toString('hex')}`;
  private readonly started = Date.now();
  private readonly env: Record<string, string>;
  private readonly config: Config;
  private readonly deps: Root;
  private readonly queues: Record<QueueName, Queue>;
  private readonly random: () => number;
  private readonly say: (line: string) => void;
  private api: SupervisedProcess | undefined;
  private base = '';
  private readonly workers: SupervisedProcess[] = [];
  private readonly acked = new Map<string, QueueName>();
  private readonly report: ChaosReport;
  private readonly ackedIngest: IngestRequest[] = [];
  private readonly ackedArtifacts: { upload: ArtifactUpload; sha256: string }[] = [];
  private faultsOver = false;

  constructor(private readonly options: ChaosOptions) {
    this.random = seededRandom(options.seed ^ 0x5eed);
    this.say = options.progress ?? (() => {});
    const id = this.runId;
    this.env = {
      ...serviceEnv(),
      QUEUE_PREFIX: `chaos-${id}`,
      DATABASE_SCHEMA: `chaos_${id}`,
      CLICKHOUSE_DATABASE: `chaos_${id}`,
      HOT_STORE: options.hotStore,
      API_KEYS: `chaos:${SECRET}:admin`,
      SPOOL_DIR: join(options.runDir, 'spool'),
      ARTIFACT_BUCKET_SAMPLES: `${id}-samples`,
      ARTIFACT_BUCKET_TA_BUNDLES: `${id}-tas`,
      ARTIFACT_BUCKET_DEBUG_BUNDLES: `${id}-debug`,
      ARCHIVE_ENABLED: 'true',
      ARCHIVE_BUCKET: `${id}-archive`,
      ARCHIVE_LOCK_MODE: 'GOVERNANCE',
      ARCHIVE_RETENTION_YEARS: '1',
      HOT_RETENTION_DAYS: '30',
      // Parts of the S3 minimum, so a large upload has many parts to resume from.
      UPLOAD_PART_SIZE_BYTES: String(5 * 1024 * 1024),
      // A killed worker's jobs come back after this lock expires (production: minutes).
      WORKER_LOCK_MS: '10000',
      SHUTDOWN_GRACE_MS: '2000',
      LOG_LEVEL: 'info',
      LOG_PRETTY: 'false',
    };
    this.config = loadConfig({ ...process.env, ...this.env });
    this.deps = createRoot(this.config, createLogger({ ...this.config, LOG_LEVEL: 'silent' }), {
      role: 'api',
      waitForRedis: true,
    });
    this.queues = Object.fromEntries(
      QUEUE_NAMES.map((name) => [
        name,
        new Queue(name, {
          connection: this.deps.redis,
          prefix: this.config.QUEUE_PREFIX,
        }).on('error', () => undefined),
      ]),
    ) as Record<QueueName, Queue>;
    this.report = {
      runId: id,
      hotStore: options.hotStore,
      seconds: 0,
      workload: {
        ingestRequests: 0,
        iocsSent: 0,
        distinctIocs: 0,
        artifacts: 0,
        artifactBytes: 0,
        maintenanceJobs: 0,
      },
      jobsAcknowledged: 0,
      jobsByType: {},
      jobsRetried: 0,
      retries: 0,
      jobsStalled: 0,
      requests: { sent: 0, retried: 0, statuses: {} },
      faults: { kills: 0, sigterms: 0, redisRestarts: 0, outages: [], workerStarts: 0 },
      found: {
        lostJobs: 0,
        failedJobs: 0,
        wrongRows: 0,
        missingRows: 0,
        extraRows: 0,
        staleCacheEntries: 0,
        wrongWatermarks: 0,
        watermarkHistory: 0,
        lostObjects: 0,
        duplicatedObjects: 0,
        badDigests: 0,
        incompleteUploads: 0,
        spoolFilesLeft: 0,
        archiveProblems: 0,
        serverErrors: 0,
        processCrashes: 0,
      },
      problems: [],
    };
  }

  async execute(): Promise<ChaosReport> {
    const { options } = this;
    await startServices();
    await mkdir(join(options.runDir, 'files'), { recursive: true });
    await mkdir(this.env.SPOOL_DIR!, { recursive: true });
    await this.createVersionedBuckets();
    // What a deployment runs first: schemas, buckets, the Object Lock archive bucket.
    await runInit(this.env, join(options.runDir, 'init.log'));

    const port = await freePort();
    this.api = new SupervisedProcess(
      'api',
      ['api'],
      { ...this.env, API_PORT: String(port), API_HOST: '127.0.0.1' },
      join(options.runDir, 'api.log'),
      'api listening',
    );
    this.base = `http://127.0.0.1:${port}`;
    await this.api.start();
    for (let i = 0; i < options.workers; i++) {
      const worker = new SupervisedProcess(
        `worker-${i}`,
        ['worker'],
        this.env,
        join(options.runDir, `worker-${i}.log`),
        'worker started',
      );
      await worker.start();
      this.workers.push(worker);
    }
    this.say(
      `run ${this.runId}: api ${this.base}, ${options.workers} workers, logs in ${options.runDir}`,
    );

    const workload = buildWorkload(options.size, options.seed, this.runId, new Date());
    const files = await this.writeArtifactFiles(workload.artifacts);
    const large = workload.artifacts.filter((a) => a.large);
    const small = workload.artifacts.filter((a) => !a.large);

    // The faults and the workload run side by side; the workload is paced to span them.
    const plannedMs = this.plannedFaultMs();
    const faults = this.injectFaults(() => this.uploadAll(large, files, 2));
    const traffic = Promise.all([
      this.maintenanceAfterOldIngest(workload.old),
      this.paced(workload.recent, plannedMs, 4, (r) => this.ingest(r)),
      this.paced(small, plannedMs, 2, (a) => this.upload(a, files.get(a.key)!)),
      this.promoteCache(plannedMs),
    ]);
    await Promise.all([faults, traffic]);
    this.faultsOver = true;
    this.say('faults over, workload sent; waiting for the queues to drain');
    await this.drain(options.drainTimeoutMs);
    await this.verify(workload.oldDays, workload.old);

    for (const w of this.workers) this.report.faults.workerStarts += w.starts;
    // A crash is a failure even though the supervisor restarted the process.
    for (const p of [...this.workers, this.api]) {
      this.report.found.processCrashes += p.crashes;
      for (const reason of p.crashReasons) this.problem(`crash: ${reason}`);
    }
    this.report.seconds = Math.round((Date.now() - this.started) / 1000);
    this.report.workload.ingestRequests = this.ackedIngest.length;
    this.report.workload.iocsSent = this.ackedIngest.reduce((n, r) => n + r.iocs.length, 0);
    this.report.workload.artifacts = this.ackedArtifacts.length;
    this.report.workload.artifactBytes = this.ackedArtifacts.reduce(
      (n, a) => n + a.upload.bytes,
      0,
    );
    this.report.jobsAcknowledged = this.acked.size;
    return this.report;
  }

  async close(): Promise<void> {
    await Promise.all([...this.workers, ...(this.api ? [this.api] : [])].map((p) => p.stop()));
    await Promise.all(Object.values(this.queues).map((q) => q.close().catch(() => undefined)));
    await this.deps.close().catch(() => undefined);
  }

  // --- workload -------------------------------------------------------------------------

  /** Sends items at an even pace over `spanMs`, at most `concurrency` at once. */
  private async paced<T>(
    items: readonly T[],
    spanMs: number,
    concurrency: number,
    send: (item: T) => Promise<void>,
  ): Promise<void> {
    const start = Date.now();
    let next = 0;
    const lane = async () => {
      for (;;) {
        const i = next++;
        const item = items[i];
        if (item === undefined) return;
        const due = start + (i * spanMs) / items.length;
        if (due > Date.now()) await sleep(due - Date.now());
        await send(item);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, lane));
  }

  /**
   * One HTTP request, repeated like a careful client until it is acknowledged: network
   * errors and 5xx are retried with backoff (same Idempotency-Key, so a retry can never
   * double the work); a 4xx is a bug in the workload and fails the run.
   */
  private async send(what: string, request: () => Promise<Response>): Promise<unknown> {
    const deadline = Date.now() + 10 * 60_000;
    let delay = 200;
    for (let attempt = 0; ; attempt++) {
      this.report.requests.sent++;
      if (attempt > 0) this.report.requests.retried++;
      let status = 'network';
      try {
        const res = await request();
        status = String(res.status);
        this.count(status);
        if (res.status === 202) return await res.json();
        const text = await res.text();
        if (res.status < 500) throw new Error(`${what}: ${res.status} ${text}`);
        if (res.status !== 503) {
          this.report.found.serverErrors++;
          this.problem(`${what}: ${res.status} ${text.slice(0, 300)}`);
        }
      } catch (err) {
        if (status !== 'network' && Number(status) < 500) throw err;
        if (status === 'network') this.count(status);
      }
      if (Date.now() > deadline) throw new Error(`${what}: not acknowledged within 10 minutes`);
      await sleep(delay * (0.5 + this.random()));
      delay = Math.min(delay * 2, 3_000);
    }
  }

  private count(status: string): void {
    this.report.requests.statuses[status] = (this.report.requests.statuses[status] ?? 0) + 1;
  }

  private ack(id: string, type: string, queue: QueueName): void {
    if (this.acked.has(id)) return;
    this.acked.set(id, queue);
    this.report.jobsByType[type] = (this.report.jobsByType[type] ?? 0) + 1;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${SECRET}`, ...extra };
  }

  private async ingest(request: IngestRequest): Promise<void> {
    const body = JSON.stringify({
      source_id: request.source_id,
      iocs: request.iocs,
      watermark: request.watermark,
    });
    const answer = (await this.send(`ingest ${request.key}`, () =>
      fetch(`${this.base}/v1/ingest/iocs`, {
        method: 'POST',
        headers: this.headers({
          'content-type': 'application/json',
          'idempotency-key': request.key,
        }),
        body,
      }),
    )) as { id: string; children: string[] };
    this.ack(answer.id, 'watermark.commit', 'ingest');
    // The answer (a replay too) names every child: their ids depend on the caller's scope.
    for (const child of answer.children) this.ack(child, 'iocs.insert', 'ingest');
    this.ackedIngest.push(request);
  }

  private async writeArtifactFiles(uploads: readonly ArtifactUpload[]) {
    const files = new Map<string, { path: string; sha256: string }>();
    for (const upload of uploads) {
      const path = join(this.options.runDir, 'files', upload.filename);
      files.set(upload.key, { path, sha256: await writeRandomFile(path, upload.bytes) });
    }
    return files;
  }

  private async upload(
    upload: ArtifactUpload,
    file: { path: string; sha256: string },
  ): Promise<void> {
    const query = new URLSearchParams({ request_id: upload.request_id, filename: upload.filename });
    const answer = (await this.send(`upload ${upload.key}`, () =>
      fetch(`${this.base}/v1/artifacts/sample?${query.toString()}`, {
        method: 'POST',
        headers: this.headers({
          'content-type': 'application/octet-stream',
          'content-length': String(upload.bytes),
          'x-content-sha256': file.sha256,
          'idempotency-key': upload.key,
        }),
        body: Readable.toWeb(createReadStream(file.path)) as ReadableStream,
        duplex: 'half',
      }),
    )) as { id: string };
    this.ack(answer.id, 'artifact.upload', 'artifacts');
    this.ackedArtifacts.push({ upload, sha256: file.sha256 });
  }

  private async uploadAll(
    uploads: readonly ArtifactUpload[],
    files: Map<string, { path: string; sha256: string }>,
    concurrency: number,
  ): Promise<void> {
    await this.paced(uploads, 0, concurrency, (a) => this.upload(a, files.get(a.key)!));
  }

  private async maintenance(name: string, payload: object): Promise<string> {
    const answer = (await this.send(`maintenance ${name}`, () =>
      fetch(`${this.base}/v1/maintenance/${name}`, {
        method: 'POST',
        headers: this.headers({ 'content-type': 'application/json' }),
        body: JSON.stringify(payload),
      }),
    )) as { id: string; queue: QueueName };
    this.ack(answer.id, name, answer.queue);
    this.report.workload.maintenanceJobs++;
    return answer.id;
  }

  /** Old sightings first; once they are stored, archive their days, then clean them out. */
  private async maintenanceAfterOldIngest(old: readonly IngestRequest[]): Promise<void> {
    const before = new Set(this.acked.keys());
    await this.paced(old, 0, 4, (r) => this.ingest(r));
    const oldJobs = [...this.acked.keys()].filter((id) => !before.has(id));
    await this.waitCompleted(oldJobs, 'old sightings stored');
    const archive = await this.maintenance('archive.lock', { max_days: 60 });
    await this.waitCompleted([archive], 'archive.lock');
    const cleanup = await this.maintenance('retention.cleanup', {
      dry_run: false,
      targets: ['hot'],
      hot_days: 30,
    });
    await this.waitCompleted([cleanup], 'retention.cleanup');
  }

  private async promoteCache(spanMs: number): Promise<void> {
    for (let i = 0; i < 4; i++) {
      await sleep(spanMs / 4);
      await this.maintenance('cache.promote', {});
    }
  }

  /** Polls until every job is completed; Redis may be away meanwhile. */
  private async waitCompleted(ids: readonly string[], what: string, timeoutMs = 15 * 60_000) {
    const deadline = Date.now() + timeoutMs;
    let left = [...ids];
    while (left.length > 0) {
      if (Date.now() > deadline)
        throw new Error(`${what}: ${left.length} jobs not completed in time`);
      const states = await Promise.all(
        left.map((id) => this.queues[this.acked.get(id)!].getJobState(id).catch(() => 'unknown')),
      );
      const failed = left.filter((_, i) => states[i] === 'failed');
      if (failed.length > 0) throw new Error(`${what}: job ${failed[0]} failed`);
      left = left.filter((_, i) => states[i] !== 'completed');
      if (left.length > 0) await sleep(500);
    }
  }

  // --- faults ---------------------------------------------------------------------------

  private plannedFaultMs(): number {
    const f = this.options.faults;
    return (
      f.outages.length * (f.outageMs + 8_000) +
      (f.restartRedis ? 8_000 : 0) +
      f.kills * 4_000 +
      10_000
    );
  }

  private async injectFaults(startLargeUploads: () => Promise<void>): Promise<void> {
    const f = this.options.faults;
    let kills = f.kills;
    // Fewer kills than slots: the later slots pass.
    const killOne = async () => {
      if (kills-- <= 0) return;
      const victim = pick(this.random, this.workers);
      this.say(`kill -9 ${victim.name}`);
      if (victim.kill9()) this.report.faults.kills++;
      await sleep(3_000);
    };
    const restartRedis = async () => {
      this.say('restarting redis');
      await restartService('redis');
      this.report.faults.redisRestarts++;
      await sleep(5_000);
    };
    const rolling = async () => {
      const uploads = startLargeUploads();
      // Once an upload runs, restart every worker in turn, as a deployment rollout does.
      await this.until(async () => (await this.queues.artifacts.getActiveCount()) > 0, 60_000);
      for (const w of this.workers) {
        this.say(`SIGTERM ${w.name} (rolling restart during uploads)`);
        const code = await w.rollingRestart();
        this.report.faults.sigterms++;
        if (code !== 0) this.problem(`${w.name} exited ${code} on SIGTERM`);
      }
      await uploads;
    };

    // kill, outage, kill, redis restart, outage, kill, rolling restart, outage, kills left.
    const steps: (() => Promise<void>)[] = [killOne];
    f.outages.forEach((service, i) => {
      steps.push(() => this.outage(service, f.outageMs), killOne);
      if (i === 0 && f.restartRedis) steps.push(restartRedis);
      if (i === 1 && f.rollingRestart) steps.push(rolling);
    });
    if (f.outages.length === 0 && f.restartRedis) steps.push(restartRedis);
    if (f.outages.length < 2 && f.rollingRestart) steps.push(rolling);
    const placed = steps.filter((s) => s === killOne).length;
    for (let i = placed; i < f.kills; i++) steps.push(killOne);
    for (const step of steps) {
      await step();
      await sleep(2_000);
    }
  }

  private async outage(service: 'postgres' | 'clickhouse' | 's3-gateway', ms: number) {
    this.say(`stopping ${service} for ${ms / 1000} s`);
    const began = Date.now();
    await stopService(service);
    await sleep(ms);
    await startServices([service]);
    this.report.faults.outages.push({ service, seconds: Math.round((Date.now() - began) / 1000) });
    this.say(`${service} back`);
  }

  private async until(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await check().catch(() => false)) return true;
      await sleep(100);
    }
    return false;
  }

  // --- checks ---------------------------------------------------------------------------

  private problem(text: string): void {
    if (this.report.problems.length < 50) this.report.problems.push(text);
  }

  /** Waits until no queue holds work that is yet to run. */
  private async drain(timeoutMs: number): Promise<void> {
    const drained = await this.until(async () => {
      for (const q of Object.values(this.queues)) {
        const c = await q.getJobCounts(
          'waiting',
          'active',
          'delayed',
          'prioritized',
          'waiting-children',
        );
        if (Object.values(c).some((n) => n > 0)) return false;
      }
      return true;
    }, timeoutMs);
    if (!drained) this.problem(`queues not drained within ${timeoutMs / 1000} s`);
  }

  private async verify(oldDays: readonly string[], old: readonly IngestRequest[]): Promise<void> {
    const found = this.report.found;
    // Every acknowledged job completed; none failed for good.
    for (const [id, queue] of this.acked) {
      const job = await Job.fromId(this.queues[queue], id);
      const state = job ? await job.getState() : 'missing';
      if (state !== 'completed') {
        found.lostJobs++;
        this.problem(`job ${id} (${queue}) is ${state}, not completed`);
      }
      if (job && job.attemptsMade > 1) {
        this.report.jobsRetried++;
        this.report.retries += job.attemptsMade - 1;
      }
      if (job && job.stalledCounter > 0) this.report.jobsStalled++;
    }
    for (const q of Object.values(this.queues)) found.failedJobs += await q.getFailedCount();

    // Rows: the recent indicators merged exactly as a clean run; the old ones archived and gone.
    const recent = this.ackedIngest.filter((r) => r.source_id !== 'chaos-old');
    const expected = expectedRows(recent);
    this.report.workload.distinctIocs = expected.length + expectedRows(old).length;
    const stored = await this.deps.hotStore.findHot({
      minConfidence: 0,
      since: new Date(0),
      limit: 10_000_000,
    });
    const line = (ioc: StoredIoc) => archiveLine(ioc);
    const storedByKey = new Map(stored.map((s) => [`${s.type}/${s.value}`, line(s)]));
    for (const e of expected) {
      const got = storedByKey.get(`${e.type}/${e.value}`);
      storedByKey.delete(`${e.type}/${e.value}`);
      if (got === undefined) {
        found.missingRows++;
        this.problem(`row missing: ${e.type} ${e.value}`);
      } else if (got !== line(e)) {
        found.wrongRows++;
        this.problem(`row differs: ${got.trim()} expected ${line(e).trim()}`);
      }
      const cached = await this.deps.iocCache.lookup(e.type, e.value);
      if (cached && line(cached) !== line(e)) {
        found.staleCacheEntries++;
        this.problem(`cache differs: ${line(cached).trim()} expected ${line(e).trim()}`);
      }
    }
    found.extraRows = storedByKey.size;
    for (const extra of [...storedByKey.values()].slice(0, 5))
      this.problem(`row not expected: ${extra.trim()}`);

    // Watermarks: the highest acknowledged timestamp, one history row per acknowledged flow.
    for (const [source, timestamp] of expectedWatermarks(this.ackedIngest)) {
      const wm = await this.deps.watermarks.get(source);
      const got = wm?.last_successful_timestamp?.toISOString();
      if (got !== timestamp) {
        found.wrongWatermarks++;
        this.problem(`watermark of ${source} is ${got}, expected ${timestamp}`);
      }
      const flows = this.ackedIngest.filter((r) => r.source_id === source).length;
      const history = await this.deps.watermarks.history(source, 100_000);
      if (history.length !== flows) {
        found.watermarkHistory++;
        this.problem(`watermark history of ${source}: ${history.length} rows for ${flows} commits`);
      }
    }

    await this.verifyArtifacts();
    await this.verifyArchive(oldDays, old);
    found.spoolFilesLeft = await countFiles(this.env.SPOOL_DIR!);
    if (found.spoolFilesLeft > 0) this.problem(`${found.spoolFilesLeft} spool files left`);
  }

  private async verifyArtifacts(): Promise<void> {
    const found = this.report.found;
    const s3 = this.deps.s3;
    const bucket = this.config.ARTIFACT_BUCKET_SAMPLES;
    for (const { upload, sha256 } of this.ackedArtifacts) {
      const key = `samples/${upload.request_id}/${upload.filename}`;
      const versions = await listVersions(s3, bucket, key);
      if (versions.length === 0) {
        found.lostObjects++;
        this.problem(`object missing: ${key}`);
        continue;
      }
      if (versions.length > 1) {
        found.duplicatedObjects++;
        this.problem(`object ${key} written ${versions.length} times`);
      }
      const digest = await objectDigest(s3, bucket, key);
      if (digest.sha256 !== sha256 || digest.bytes !== upload.bytes) {
        found.badDigests++;
        this.problem(
          `object ${key}: ${digest.bytes} bytes ${digest.sha256}, expected ${upload.bytes} ${sha256}`,
        );
      }
    }
    for (const b of [
      bucket,
      this.config.ARTIFACT_BUCKET_TA_BUNDLES,
      this.config.ARTIFACT_BUCKET_DEBUG_BUNDLES,
      this.config.ARCHIVE_BUCKET,
    ]) {
      const left = await incompleteUploads(s3, b).catch(() => []);
      found.incompleteUploads += left.length;
      if (left.length > 0) this.problem(`${left.length} incomplete multipart uploads in ${b}`);
    }
  }

  /** Each old day: in the ledger once, every object written once, its rows exactly the clean run's. */
  private async verifyArchive(
    days: readonly string[],
    old: readonly IngestRequest[],
  ): Promise<void> {
    const found = this.report.found;
    const s3 = this.deps.s3;
    const bucket = this.config.ARCHIVE_BUCKET;
    const expected = expectedRows(old);
    for (const day of days) {
      const want = expected
        .filter((r) => r.last_seen.toISOString().startsWith(day))
        .map((r) => archiveLine(r))
        .sort();
      const entry = await this.deps.archiveLedger.get(day);
      if (!entry) {
        if (want.length > 0) {
          found.archiveProblems++;
          this.problem(`archive day ${day} not in the ledger (${want.length} rows)`);
        }
        continue;
      }
      const versions = await listVersions(s3, bucket, archiveDayPrefix(day));
      const keys = new Set(versions.map((v) => v.Key));
      if (keys.size !== versions.length) {
        found.archiveProblems++;
        this.problem(`archive day ${day}: ${versions.length} versions of ${keys.size} keys`);
      }
      const got: string[] = [];
      for (const key of [...keys].filter((k) => k?.endsWith('.ndjson.gz'))) {
        const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const text = gunzipSync(Buffer.from(await out.Body!.transformToByteArray())).toString();
        got.push(
          ...text
            .split('\n')
            .filter(Boolean)
            .map((l) => `${l}\n`),
        );
      }
      got.sort();
      if (entry.rows !== want.length || got.join('') !== want.join('')) {
        found.archiveProblems++;
        this.problem(
          `archive day ${day}: ledger ${entry.rows}, objects ${got.length}, expected ${want.length} rows`,
        );
      }
    }
  }

  private async createVersionedBuckets(): Promise<void> {
    // Versioned, so an object written twice shows up as two versions.
    for (const Bucket of [
      this.env.ARTIFACT_BUCKET_SAMPLES!,
      this.env.ARTIFACT_BUCKET_TA_BUNDLES!,
      this.env.ARTIFACT_BUCKET_DEBUG_BUNDLES!,
    ]) {
      await this.deps.s3.send(new CreateBucketCommand({ Bucket }));
      await this.deps.s3.send(
        new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Enabled' } }),
      );
    }
  }
}

async function listVersions(
  s3: Root['s3'],
  bucket: string,
  prefix: string,
): Promise<ObjectVersion[]> {
  const out: ObjectVersion[] = [];
  let KeyMarker: string | undefined;
  let VersionIdMarker: string | undefined;
  for (;;) {
    const page = await s3.send(
      new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker, VersionIdMarker }),
    );
    out.push(...(page.Versions ?? []).filter((v) => v.Key === prefix || prefix.endsWith('/')));
    if (!page.IsTruncated) return out;
    KeyMarker = page.NextKeyMarker;
    VersionIdMarker = page.NextVersionIdMarker;
  }
}

async function countFiles(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).length;
}

/** Removes a run's folder (logs, files, spool) once it passed. */
export async function removeRunDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
