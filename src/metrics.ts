import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The process a registry belongs to; every series carries it as the `role` label. */
export type MetricsRole = 'api' | 'worker' | 'scheduler' | 'dashboard' | 'cli';

/** How a job attempt ended: done, failed for good, or failed with attempts left. */
export type JobOutcome = 'completed' | 'failed' | 'retried';

/** The BullMQ job states counted by `stowage_queue_jobs`. */
export const QUEUE_STATES = [
  'waiting',
  'active',
  'delayed',
  'failed',
  'prioritized',
  'waiting-children',
] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

/** What a handler counts while it works; bound to its job's queue and type by the runtime. */
export interface JobMetrics {
  /** Bytes stored in S3 (artifact.upload, archive.lock). */
  bytesUploaded(bytes: number): void;
  /** Rows written to the hot store (iocs.insert). */
  rowsInserted(rows: number): void;
  /** Rows deleted from the hot store (retention.cleanup). */
  rowsDeleted(rows: number): void;
}

/** What is accounted to a tenant (RedisUsageStore's fields), by how much. */
export type TenantAmounts = Partial<
  Record<'bytes' | 'rows' | 'jobs_enqueued' | 'jobs_completed' | 'jobs_failed', number>
>;

/** What the IOC look-up counts. */
export interface CacheMetrics {
  lookup(result: 'hit' | 'miss'): void;
}

/** A queue whose depths can be read (a BullMQ Queue). */
export interface CountableQueue {
  readonly name: string;
  getJobCounts(...types: QueueState[]): Promise<Record<string, number>>;
}

/** A JobMetrics that counts nothing (handlers run outside a worker: tests, benchmarks). */
export const NO_JOB_METRICS: JobMetrics = {
  bytesUploaded: () => undefined,
  rowsInserted: () => undefined,
  rowsDeleted: () => undefined,
};

/** Job durations span milliseconds (an insert) to many minutes (an archive day). */
const DURATION_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900,
];

/** How long a scrape waits for queue depths before answering without them. */
const DEPTH_TIMEOUT_MS = 2_000;

/** The Prometheus metrics of one process: one registry, built fresh each time. */
export interface Metrics {
  readonly registry: Registry;
  /** The Content-Type of `render()`. */
  readonly contentType: string;
  /** Counts one ended attempt and observes its duration. */
  jobEnded(queue: string, type: string, outcome: JobOutcome, seconds: number): void;
  /** Counts an attempt beyond the first as it starts. */
  jobRetry(queue: string, type: string): void;
  /** The counters a handler of this queue and type reports to. */
  forJob(queue: string, type: string): JobMetrics;
  readonly cache: CacheMetrics;
  /**
   * Adds to a tenant's usage counters. The tenant is labelled as given: callers pass a
   * configured tenant or `other` (tenantLabeller), so the label set stays bounded.
   */
  tenantUsage(tenant: string, amounts: TenantAmounts): void;
  /** Counts a request refused by a quota (rps, bytes_day, queued) or the memory ceiling. */
  quotaRefused(tenant: string | undefined, quota: string): void;
  /** Counts a job sent back to wait because its sink said it was saturated, and for how long. */
  sinkThrottled(queue: string, type: string, code: string, delayMs: number): void;
  /** Reports these queues' depths on every scrape (read from Redis then, bounded in time); idempotent. */
  watchQueues(queues: readonly CountableQueue[]): void;
  /**
   * Reports dead letters by queue and type (`stowage_dead_letters`), read from `count` on
   * every scrape (bounded in time); the last call wins.
   */
  watchDeadLetters(count: () => Promise<readonly DeadLetterCount[]>): void;
  /** The registry in the Prometheus text format. */
  render(): Promise<string>;
}

/** How many dead letters one queue and type holds. */
export interface DeadLetterCount {
  readonly queue: string;
  readonly type: string;
  readonly count: number;
}

/**
 * Builds a process's metrics. No module-level registry: each process (and each test world)
 * gets its own, with the default Node metrics when `defaultMetrics` is not false.
 */
export function createMetrics(options: {
  role: MetricsRole;
  defaultMetrics?: boolean;
  depthTimeoutMs?: number;
}): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ role: options.role });
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const jobLabels = ['queue', 'type'] as const;

  const jobs = new Counter({
    name: 'stowage_jobs_total',
    help: 'Job attempts that ended, by queue, type and outcome (completed, failed, retried).',
    labelNames: [...jobLabels, 'outcome'],
    registers,
  });
  const duration = new Histogram({
    name: 'stowage_job_duration_seconds',
    help: 'How long job attempts ran, by queue and type, whatever their outcome.',
    labelNames: jobLabels,
    buckets: DURATION_BUCKETS,
    registers,
  });
  const retries = new Counter({
    name: 'stowage_job_retries_total',
    help: 'Attempts beyond the first that started, by queue and type.',
    labelNames: jobLabels,
    registers,
  });
  const bytesUploaded = new Counter({
    name: 'stowage_bytes_uploaded_total',
    help: 'Bytes stored in S3 by artifact.upload and archive.lock.',
    labelNames: jobLabels,
    registers,
  });
  const rowsInserted = new Counter({
    name: 'stowage_rows_inserted_total',
    help: 'Rows written to the hot store by iocs.insert.',
    labelNames: jobLabels,
    registers,
  });
  const rowsDeleted = new Counter({
    name: 'stowage_rows_deleted_total',
    help: 'Hot-store rows deleted by retention.cleanup.',
    labelNames: jobLabels,
    registers,
  });
  const cacheLookups = new Counter({
    name: 'stowage_cache_lookups_total',
    help: 'IOC look-ups by whether the cache held the IOC (hit) or not (miss).',
    labelNames: ['result'],
    registers,
  });
  for (const result of ['hit', 'miss']) cacheLookups.inc({ result }, 0);
  const tenantBytes = new Counter({
    name: 'stowage_tenant_bytes_total',
    help: 'Bytes of request bodies that brought work (ingest, artifacts), answered 2xx, by tenant.',
    labelNames: ['tenant'],
    registers,
  });
  const tenantRows = new Counter({
    name: 'stowage_tenant_rows_total',
    help: "Rows written by the tenant's jobs (their `written`), by tenant.",
    labelNames: ['tenant'],
    registers,
  });
  const tenantJobs = new Counter({
    name: 'stowage_tenant_jobs_total',
    help: 'Jobs of a tenant by event: enqueued (api), completed and failed for good (worker).',
    labelNames: ['tenant', 'event'],
    registers,
  });
  const quotaRefusals = new Counter({
    name: 'stowage_quota_refusals_total',
    help: 'Requests refused by a quota (rps, bytes_day, queued: 429) or the Redis memory ceiling (redis_memory: 503), by tenant.',
    labelNames: ['tenant', 'quota'],
    registers,
  });
  const throttles = new Counter({
    name: 'stowage_sink_throttles_total',
    help: 'Jobs sent back to wait, without using an attempt, because a sink said it was saturated (S3 SlowDown, ClickHouse too many parts, PostgreSQL out of connections or locks, Redis OOM), by queue, type and error code.',
    labelNames: [...jobLabels, 'code'],
    registers,
  });
  const throttleSeconds = new Counter({
    name: 'stowage_sink_throttle_seconds_total',
    help: 'Seconds a queue was rate-limited because a sink said it was saturated, by queue.',
    labelNames: ['queue'],
    registers,
  });
  const watched = new Set<CountableQueue>();
  let inFlight: Promise<void> | undefined;
  const depthTimeoutMs = options.depthTimeoutMs ?? DEPTH_TIMEOUT_MS;
  // Both depth series wait for the same read: concurrent scrapes share it, and a queue that
  // does not answer in time is left out of this scrape (and counted) rather than holding it.
  const refreshDepths = () => (inFlight ??= readDepths().finally(() => (inFlight = undefined)));
  const depthErrors = new Counter({
    name: 'stowage_queue_depth_errors_total',
    help: 'Scrapes that could not read a queue depth in time (Redis away or slow).',
    labelNames: ['queue'],
    registers,
    collect: refreshDepths,
  });
  const depth = new Gauge({
    name: 'stowage_queue_jobs',
    help: 'Jobs in each state of each queue, read from Redis at scrape time.',
    labelNames: ['queue', 'state'],
    registers,
    collect: refreshDepths,
  });
  async function readDepths(): Promise<void> {
    const results = await Promise.all(
      [...watched].map(async (queue) => {
        try {
          return { queue, counts: await withDeadline(queue.getJobCounts(...QUEUE_STATES)) };
        } catch {
          depthErrors.inc({ queue: queue.name });
          return { queue, counts: undefined };
        }
      }),
    );
    depth.reset();
    for (const { queue, counts } of results) {
      if (!counts) continue;
      for (const state of QUEUE_STATES) depth.set({ queue: queue.name, state }, counts[state] ?? 0);
    }
  }
  function withDeadline<T>(promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('queue depth timed out')), depthTimeoutMs);
    });
    return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
  }

  let countDeadLetters: (() => Promise<readonly DeadLetterCount[]>) | undefined;
  const deadLetterErrors = new Counter({
    name: 'stowage_dead_letter_count_errors_total',
    help: 'Scrapes that could not count dead letters in time (PostgreSQL away or slow).',
    registers,
  });
  new Gauge({
    name: 'stowage_dead_letters',
    help: 'Jobs in the dead-letter store (PostgreSQL dead_letters), by queue and type, read at scrape time.',
    labelNames: jobLabels,
    registers,
    async collect() {
      if (!countDeadLetters) return;
      try {
        const counts = await withDeadline(countDeadLetters());
        this.reset();
        for (const c of counts) this.set({ queue: c.queue, type: c.type }, c.count);
      } catch {
        // The previous values stay rather than a drop to nothing an alert would read as recovery.
        deadLetterErrors.inc();
      }
    },
  });

  return {
    registry,
    contentType: registry.contentType,
    watchDeadLetters(count) {
      countDeadLetters = count;
    },
    jobEnded(queue, type, outcome, seconds) {
      jobs.inc({ queue, type, outcome });
      duration.observe({ queue, type }, seconds);
    },
    jobRetry(queue, type) {
      retries.inc({ queue, type });
    },
    forJob(queue, type) {
      const labels = { queue, type };
      const add = (counter: Counter, n: number) => {
        if (Number.isFinite(n) && n > 0) counter.inc(labels, n);
      };
      return {
        bytesUploaded: (n) => add(bytesUploaded, n),
        rowsInserted: (n) => add(rowsInserted, n),
        rowsDeleted: (n) => add(rowsDeleted, n),
      };
    },
    cache: { lookup: (result) => cacheLookups.inc({ result }) },
    tenantUsage(tenant, amounts) {
      const add = (n: number | undefined, inc: (n: number) => void) => {
        if (n !== undefined && Number.isFinite(n) && n > 0) inc(n);
      };
      add(amounts.bytes, (n) => tenantBytes.inc({ tenant }, n));
      add(amounts.rows, (n) => tenantRows.inc({ tenant }, n));
      add(amounts.jobs_enqueued, (n) => tenantJobs.inc({ tenant, event: 'enqueued' }, n));
      add(amounts.jobs_completed, (n) => tenantJobs.inc({ tenant, event: 'completed' }, n));
      add(amounts.jobs_failed, (n) => tenantJobs.inc({ tenant, event: 'failed' }, n));
    },
    quotaRefused(tenant, quota) {
      quotaRefusals.inc({ tenant: tenant ?? 'none', quota });
    },
    sinkThrottled(queue, type, code, delayMs) {
      throttles.inc({ queue, type, code });
      throttleSeconds.inc({ queue }, delayMs / 1000);
    },
    watchQueues(queues) {
      for (const queue of queues) watched.add(queue);
    },
    render: () => registry.metrics(),
  };
}
