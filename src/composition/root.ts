import { isCancelledReason } from '../../jobs/job-abort.js';
import { mkdir } from 'node:fs/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { QUEUE_NAMES, type Config, type QueueName } from '../config.js';
import { createClickHouse, pingClickHouse } from '../connections/clickhouse.js';
import { createPgPool, pingPostgres } from '../connections/postgres.js';
import { createRedis, pingRedis, withTimeout, type Role } from '../connections/redis.js';
import { readMaxmemoryPolicy } from '../connections/redis-eviction-policy.js';
import { createS3, pingS3 } from '../connections/s3.js';
import { configureTimestampBounds } from '../domain/timestamp.js';
import { StartupRefusedError } from '../errors/index.js';
import type { Logger } from '../log.js';
import { createMetrics, type Metrics } from '../metrics.js';
import { createHotBackend } from '../stores/hot/create-hot-backend.js';
import { createActivityStore } from '../stores/hot/create-activity-store.js';
import { createRecordStore } from '../stores/hot/create-record-store.js';
import type { RecordStore } from '../stores/hot/record-store.js';
import { RecordIndex } from '../stores/postgres/record-index.js';
import { ArchivedRecordReader } from '../stores/s3/archived-record-reader.js';
import type { ActivityStore } from '../stores/hot/activity-store.js';
import type { HotRetention } from '../stores/hot/hot-retention.js';
import type { IocSearch } from '../stores/hot/ioc-search.js';
import type { HotStore } from '../stores/hot/hot-store.js';
import { Spool } from '../stores/local/spool.js';
import { ArchiveLedger } from '../stores/postgres/archive-ledger.js';
import { ArchiveIndex } from '../stores/postgres/archive-index.js';
import { ActivityArchiveLedger } from '../stores/postgres/activity-archive-ledger.js';
import { DetectionArchiveLedger } from '../stores/postgres/detection-archive-ledger.js';
import { PostgresDetectionRetention } from '../stores/postgres/detection-retention.js';
import { MaintenancePlanStore } from '../stores/postgres/maintenance-plan-store.js';
import { ArchivedIocReader } from '../stores/s3/archived-ioc-reader.js';
import { ArchivedGenerationReader } from '../stores/s3/archived-generation-reader.js';
import { ArtifactAuditLog } from '../stores/postgres/artifact-audit.js';
import { ArtifactDeletionLog } from '../stores/postgres/artifact-deletions.js';
import { PostgresBatchStore } from '../stores/postgres/batch-store.js';
import { DeadLetterStore } from '../stores/postgres/dead-letter-store.js';
import { deadLetterOf } from '../../queues/dead-letter-of-job.js';
import { PostgresDetectionStore } from '../stores/postgres/detection-store.js';
import { PostgresConfigStore } from '../stores/postgres/config-store.js';
import { PostgresSchemaVersion, checkClickHouseTable } from '../stores/postgres/schema-version.js';
import { PostgresWatermarkStore } from '../stores/postgres/watermark-store.js';
import { RedisIdempotencyStore } from '../stores/redis/idempotency-store.js';
import { RedisIocCache } from '../stores/redis/ioc-cache.js';
import { RedisMemoryGauge } from '../stores/redis/memory-gauge.js';
import { RedisQuotaStore } from '../stores/redis/quota-store.js';
import { RedisUsageStore } from '../stores/redis/usage-store.js';
import { S3ArtifactStore } from '../stores/s3/artifact-store.js';
import { artifactBuckets } from '../stores/s3/artifact-buckets.js';
import { SampleRetention } from '../stores/s3/sample-retention.js';
import { WormArchive } from '../stores/s3/worm-archive.js';
import { jobIdOfSpoolFile } from '../../jobs/artifact-upload/definition.js';
import type { AnyJobDefinition } from '../../jobs/job-definition.js';
import type { JobRegistry } from '../../jobs/job-registry.js';
import { createJobRegistry } from '../../jobs/registry.js';
import type { WorkerResources } from '../../jobs/worker-resources.js';
import { openQueueLayer, type QueueLayer } from '../../queues/queue-layer.js';
import { QueueSet } from '../../queues/queue-set.js';
import { projectSettings, type Settings } from './settings.js';

/** Which process a root is built for; it decides which clients are opened and how. */
export type RootRole = 'api' | 'worker' | 'scheduler' | 'dashboard' | 'cli' | 'init';

/** A backend /ready checks, by the name it reports. */
export type BackendName = 'redis' | 'cache-redis' | 'postgres' | 'clickhouse' | 's3';

/** What every root has: configuration, settings, the queue Redis, and one close(). */
export interface RootCore {
  readonly config: Config;
  readonly log: Logger;
  readonly role: RootRole;
  /** The configuration as stores and handlers read it (projected once). */
  readonly settings: Settings;
  /** This process's Prometheus metrics (one registry, labelled with the role). */
  readonly metrics: Metrics;
  /** The queue Redis connection for non-blocking commands (queues, producers). */
  readonly redis: Redis;
  /** A new blocking connection to the queue Redis (BullMQ Workers need one each; they wait for Redis). */
  connectRedis(name: string): Redis;
  /**
   * Checks that the queue Redis runs maxmemory-policy noeviction: a StartupRefusedError in
   * production, a warning otherwise.
   */
  checkQueueRedis(): Promise<void>;
  /** Closes what the root built, in the reverse order of building it. */
  close(): Promise<void>;
}

/** Every backend client (each connects on its first command, except the queue Redis). */
export interface BackendClients {
  readonly cacheRedis: Redis;
  readonly pg: pg.Pool;
  readonly clickhouse: ClickHouseClient;
  readonly s3: S3Client;
}

/** Every store, over the clients above. */
export interface Stores {
  /** The hot IOC store HOT_STORE selects. */
  readonly hotStore: HotStore;
  /** Retention over the hot store HOT_STORE selects. */
  readonly hotRetention: HotRetention;
  /** Activity events on the backend HOT_STORE selects. */
  readonly activities: ActivityStore;
  /** Filtered search, statistics and delete over the hot store HOT_STORE selects. */
  readonly iocSearch: IocSearch;
  readonly watermarks: PostgresWatermarkStore;
  /** Claim-checked job records (PostgreSQL `job_batches`): iocs.insert batches. */
  readonly batches: PostgresBatchStore;
  /** Detections (seed 000) and their status history, in PostgreSQL whatever HOT_STORE says. */
  readonly detections: PostgresDetectionStore;
  readonly iocCache: RedisIocCache;
  /** Idempotency-Key records in the queue Redis (IDEMPOTENCY_TTL_HOURS window). */
  readonly idempotency: RedisIdempotencyStore;
  /** The artifact buckets of seed 003 (one per kind). */
  readonly artifacts: S3ArtifactStore;
  /** Admin overwrites of artifacts (PostgreSQL `artifact_overwrites`). */
  readonly artifactAudit: ArtifactAuditLog;
  /** Explicit deletes of artifacts (PostgreSQL `artifact_deletions`). */
  readonly artifactDeletions: ArtifactDeletionLog;
  /** The WORM archive bucket (ARCHIVE_BUCKET, S3 Object Lock). */
  readonly wormArchive: WormArchive;
  /** Which hot-store days are archived (PostgreSQL). */
  readonly archiveLedger: ArchiveLedger;
  /** Which archive part holds each archived indicator (PostgreSQL). */
  readonly archiveIndex: ArchiveIndex;
  /** Reads recorded archive generations back, verified (archive.reindex). */
  readonly archivedGenerations: ArchivedGenerationReader;
  /** Which activity days are archived, and which of them retention dropped (PostgreSQL). */
  readonly activityArchiveLedger: ActivityArchiveLedger;
  /** Which detection days are archived, and up to which updated_at (PostgreSQL). */
  readonly detectionArchiveLedger: DetectionArchiveLedger;
  /** Detections as detections.archive reads and retention deletes them (PostgreSQL). */
  readonly detectionRetention: PostgresDetectionRetention;
  /** Look-ups of indicators that left the hot store; undefined when ARCHIVE_ENABLED is false. */
  readonly archivedIocs: ArchivedIocReader | undefined;
  /** Retention of log samples in ARTIFACT_BUCKET_SAMPLES. */
  readonly sampleRetention: SampleRetention;
  /** Seed 002's records on the backend HOT_STORE selects. */
  readonly records: RecordStore;
  /** Which archive object and line hold each record (PostgreSQL `record_index`). */
  readonly recordIndex: RecordIndex;
  /** Reads records that left the hot store back from the archive, through the index. */
  readonly archivedRecords: ArchivedRecordReader;
  /** Versioned configuration values (PostgreSQL `config_entries`, whatever HOT_STORE is). */
  readonly configStore: PostgresConfigStore;
  /** Plans of destructive maintenance, their items and execution reports (PostgreSQL). */
  readonly maintenancePlans: MaintenancePlanStore;
  /** Jobs that failed for good (PostgreSQL `dead_letters`). */
  readonly deadLetters: DeadLetterStore;
  /** Per-tenant token buckets and queued-job ledgers (TENANT_QUOTAS), in the queue Redis. */
  readonly quotas: RedisQuotaStore;
  /** Usage per tenant and UTC day (bytes, rows, jobs), in the queue Redis. */
  readonly usage: RedisUsageStore;
  /** The queue Redis's memory against REDIS_MEMORY_CEILING; undefined when it is off. */
  readonly memoryGauge: RedisMemoryGauge | undefined;
}

/** The start checks of a process that reads the stores. */
export interface StartChecks {
  /**
   * A process start's schema check (reads only, short lock timeout): throws a
   * StartupRefusedError naming `stowage init` when the schema is missing or older.
   */
  checkSchema(): Promise<void>;
  /** Creates SPOOL_DIR when missing (a local directory, shared by api and workers). */
  prepareSpool(): Promise<void>;
  /**
   * What an api or worker checks before it opens a queue: the schema, the queue Redis's
   * eviction policy, the spool. No DDL: `stowage init` creates the schema.
   */
  preflight(): Promise<void>;
}

/** What `stowage init` builds: every client and store, and the schema's DDL. */
export interface InitRoot extends RootCore, BackendClients, Stores, StartChecks {
  /**
   * Creates every store's schema and the artifact buckets when missing, then records the
   * schema version. DDL: `stowage init` (and tests) only, never a process start.
   */
  initStores(): Promise<void>;
  /** Checks each backend the deployment uses; the names of those that did not answer. */
  checkBackends(timeoutMs?: number): Promise<{ name: BackendName; ok: boolean; error?: string }[]>;
}

/** The root of the api, an operator command, or a test world: everything, and every queue. */
export interface Root<Defs extends readonly AnyJobDefinition[] = readonly AnyJobDefinition[]>
  extends InitRoot, QueueLayer<Defs> {}

/** A worker's root: the queues it serves and the resources its handlers are built from. */
export interface WorkerRoot extends RootCore, StartChecks {
  readonly registry: JobRegistry;
  /** The queues this worker serves (their depths are its metrics). */
  readonly served: readonly QueueName[];
  readonly queues: QueueSet;
  readonly resources: WorkerResources;
}

/** The scheduler's root: the queue Redis and a producer. */
export type SchedulerRoot = RootCore & QueueLayer<readonly AnyJobDefinition[]>;

/** The standalone dashboard's root: the queue Redis and every queue. */
export interface DashboardRoot extends RootCore {
  readonly queues: QueueSet;
}

/** How a root is built besides its role. */
export interface RootOptions<Defs extends readonly AnyJobDefinition[]> {
  /** The job types (tests bring their own); Stowage's by default. */
  registry?: JobRegistry<Defs>;
  /** A worker's queues (WORKER_QUEUES by default). */
  queues?: readonly QueueName[];
  /**
   * Commands wait for Redis to come back instead of failing fast. The role decides by
   * default (api and CLI fail fast); a fault test's own clients outlive the outage.
   */
  waitForRedis?: boolean;
}

/** The root each role gets. */
export interface RootOfRole<Defs extends readonly AnyJobDefinition[]> {
  api: Root<Defs>;
  cli: Root<Defs>;
  init: InitRoot;
  worker: WorkerRoot;
  scheduler: SchedulerRoot;
  dashboard: DashboardRoot;
}

/**
 * Builds, eagerly and only what the role needs, config → clients → stores → queue layer
 * (pg-boss's constructor, not a bag of getters). Nothing connects here except the Redis
 * connections, which reconnect quietly for as long as it takes: the api and the CLI fail
 * their commands fast (a request gets a 503), workers and the scheduler wait. `close()` closes
 * in reverse order. A process start uses startRoot, which checks before any queue opens.
 */
export function createRoot<
  R extends RootRole,
  Defs extends readonly AnyJobDefinition[] = readonly AnyJobDefinition[],
>(config: Config, log: Logger, options: RootOptions<Defs> & { role: R }): RootOfRole<Defs>[R] {
  const stage = withStores(openClients(config, log, options), options);
  return withQueueLayer(stage, options) as RootOfRole<Defs>[R];
}

/**
 * A process start's root: the backends, then the role's start checks (api and worker: the
 * schema, the queue Redis's eviction policy, the spool; scheduler: the eviction policy),
 * then the queue layer, so that no queue opens on a Redis that may evict. Closes what it
 * built when a check refuses.
 */
export async function startRoot<
  R extends RootRole,
  Defs extends readonly AnyJobDefinition[] = readonly AnyJobDefinition[],
>(
  config: Config,
  log: Logger,
  options: RootOptions<Defs> & { role: R },
): Promise<RootOfRole<Defs>[R]> {
  const clients = openClients(config, log, options);
  try {
    await checkStart(clients);
  } catch (err) {
    await clients.core.close();
    throw err;
  }
  return withQueueLayer(withStores(clients, options), options) as RootOfRole<Defs>[R];
}

/** Registers what was built with its closer (the root closes in reverse order). */
type Built = <T>(value: T, close: (t: T) => Promise<unknown>) => T;

/** A worker's backends: its start checks and the resources of its served queues. */
interface WorkerBackends extends StartChecks {
  readonly served: readonly QueueName[];
  readonly resources: WorkerResources;
}

/** The clients a role's start checks need (PostgreSQL, ClickHouse, the cache Redis). */
interface CheckedClients {
  readonly pool: pg.Pool;
  readonly clickhouse: ClickHouseClient | undefined;
  readonly cacheRedis: Redis | undefined;
  readonly schemaVersion: PostgresSchemaVersion;
  readonly checks: StartChecks;
}

/** What a role has before its start checks. */
type ClientStage = { core: RootCore; built: Built; onRedisError: (err: Error) => void } & (
  { kind: 'core' } | { kind: 'full' | 'worker'; clients: CheckedClients }
);

/** What a role has before its queue layer. */
type Stage = { core: RootCore; built: Built } & (
  { kind: 'core' } | { kind: 'full'; full: InitRoot } | { kind: 'worker'; worker: WorkerBackends }
);

/**
 * Configuration → the queue Redis and the clients the start checks read. S3 comes after
 * the checks (withStores): its SDK prints a warning on some Node versions, and a refused
 * start says one line.
 */
function openClients(
  config: Config,
  log: Logger,
  options: RootOptions<readonly AnyJobDefinition[]> & { role: RootRole },
): ClientStage {
  const { role } = options;
  // Every schema with a timestamp validates against these from now on (see timestamp.ts for
  // why they are configured once per process rather than built into the schemas).
  configureTimestampBounds({
    floor: config.TIMESTAMP_FLOOR,
    maxFutureSkewMs: config.TIMESTAMP_FUTURE_SKEW_SECONDS * 1000,
  });
  const settings = projectSettings(config);
  const closers: (() => Promise<unknown>)[] = [];
  const built: Built = (value, close) => {
    closers.push(() => close(value));
    return value;
  };
  const close = async () => {
    for (const closer of closers.splice(0).reverse()) {
      await closer().catch(() => undefined);
    }
  };

  const connectionRole = redisRole(role, options.waitForRedis);
  let lastRedisWarning = 0;
  const onRedisError = (err: Error) => {
    // One line per 10 s is enough to say Redis is away; reconnects go on quietly.
    if (Date.now() - lastRedisWarning < 10_000) return;
    lastRedisWarning = Date.now();
    log.warn({ err: err.message }, 'redis connection error; reconnecting');
  };
  const redis = built(createRedis(config.REDIS_URL, connectionRole, 'main', onRedisError), quit);
  const extra: Redis[] = [];
  closers.push(() => Promise.allSettled(extra.splice(0).map(quit)));
  const core: RootCore = {
    config,
    log,
    role,
    settings,
    metrics: createMetrics({
      role: connectionRole,
      // An operator command serves no /metrics: no default collectors for it.
      ...(role === 'cli' || role === 'init' ? { defaultMetrics: false } : {}),
    }),
    redis,
    connectRedis(name) {
      const connection = createRedis(config.REDIS_URL, 'worker', name, onRedisError);
      extra.push(connection);
      return connection;
    },
    async checkQueueRedis() {
      // Wait for Redis as the process did before this check (the api's commands fail fast).
      if (redis.status !== 'ready') {
        await new Promise<void>((ready) => redis.once('ready', () => ready()));
      }
      const policy = await readMaxmemoryPolicy(redis);
      if (policy === 'noeviction') return;
      if (policy === undefined) {
        log.warn(
          'cannot read the queue Redis maxmemory-policy (CONFIG GET and INFO memory gave none); it must be noeviction',
        );
        return;
      }
      const problem = `REDIS_URL: the queue Redis runs maxmemory-policy ${policy}; it must be noeviction (evicted keys lose jobs)`;
      if (config.NODE_ENV === 'production') {
        throw new StartupRefusedError('redis_eviction_policy', problem);
      }
      log.warn({ maxmemoryPolicy: policy }, problem);
    },
    close,
  };
  if (role === 'scheduler' || role === 'dashboard') {
    return { kind: 'core', core, built, onRedisError };
  }

  // The schema version lives in PostgreSQL, so every role past here has a pool (it
  // connects on first use). A worker opens the cache Redis only for queues whose jobs
  // touch it, and ClickHouse only as the hot store.
  const worker = role === 'worker';
  const served = options.queues ?? config.workerQueues;
  const cacheRedis =
    !worker || served.includes('ingest') || served.includes('cache')
      ? built(createRedis(config.cacheRedisUrl, connectionRole, 'cache', onRedisError), quit)
      : undefined;
  const pool = built(createPgPool(config.DATABASE_URL, config.DATABASE_POOL_MAX, log), (p) =>
    p.end(),
  );
  const clickhouse =
    !worker || config.HOT_STORE === 'clickhouse'
      ? built(createClickHouse(config), (c) => c.close())
      : undefined;
  const schemaVersion = new PostgresSchemaVersion(pool, { schema: config.DATABASE_SCHEMA });
  const hotClickHouse = config.HOT_STORE === 'clickhouse' ? clickhouse : undefined;
  const checks = startChecks(core, hotClickHouse, schemaVersion);
  const clients = { pool, clickhouse, cacheRedis, schemaVersion, checks };
  return { kind: worker ? 'worker' : 'full', core, built, onRedisError, clients };
}

/** The role's start check: what must hold before S3 and any queue open. */
async function checkStart(stage: ClientStage): Promise<void> {
  const { role } = stage.core;
  if (stage.kind !== 'core' && role === 'worker') {
    // A worker (re)started while PostgreSQL is away waits for it, as it waits for Redis,
    // instead of exiting into a crash loop; a refusal (schema missing, eviction policy) exits.
    const { log } = stage.core;
    let lastWarning = 0;
    for (;;) {
      try {
        await stage.clients.checks.preflight();
        return;
      } catch (err) {
        if (err instanceof StartupRefusedError) throw err;
        if (Date.now() - lastWarning >= 10_000) {
          lastWarning = Date.now();
          log.warn(
            { err: err instanceof Error ? err.message : String(err) },
            'start check failed (a backend is away); retrying every 2 s',
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 2_000));
      }
    }
  } else if (stage.kind !== 'core' && role === 'api') {
    await stage.clients.checks.preflight();
  } else if (role === 'scheduler') {
    await stage.core.checkQueueRedis();
  }
}

/** Clients → S3 (when the role needs it) and the stores. */
function withStores(
  stage: ClientStage,
  options: RootOptions<readonly AnyJobDefinition[]> & { role: RootRole },
): Stage {
  if (stage.kind === 'core') return stage;
  const { core, built } = stage;
  const { config, settings, redis } = core;
  const { pool, clickhouse, cacheRedis, schemaVersion, checks } = stage.clients;
  const schema = { schema: config.DATABASE_SCHEMA };
  const hot = createHotBackend(config, { pg: pool, clickhouse });
  const activities = createActivityStore(config, { pg: pool, clickhouse });
  const records = createRecordStore(config, { pg: pool, clickhouse });
  const recordIndex = new RecordIndex(pool, schema);

  if (stage.kind === 'worker') {
    const served = options.queues ?? config.workerQueues;
    const s3 = served.some((q) => q === 'artifacts' || q === 'archive' || q === 'maintenance')
      ? built(createS3(config), destroyS3)
      : undefined;
    const resources: WorkerResources = {
      settings,
      hotStore: hot.store,
      hotRetention: hot.retention,
      activities,
      records,
      recordIndex,
      watermarks: new PostgresWatermarkStore(pool, schema),
      batches: new PostgresBatchStore(pool, schema),
      detections: new PostgresDetectionStore(pool, schema),
      archiveLedger: new ArchiveLedger(pool, schema),
      archiveIndex: new ArchiveIndex(pool, schema),
      activityArchiveLedger: new ActivityArchiveLedger(pool, schema),
      detectionArchiveLedger: new DetectionArchiveLedger(pool, schema),
      detectionRetention: new PostgresDetectionRetention(pool, schema),
      maintenancePlans: new MaintenancePlanStore(pool, schema),
      artifactAudit: new ArtifactAuditLog(pool, schema),
      deadLetters: new DeadLetterStore(pool, schema),
      spool: new Spool(settings.uploads.spoolDir),
      ...(cacheRedis ? { iocCache: iocCacheOver(cacheRedis, config, settings) } : {}),
      ...(s3
        ? {
            artifacts: artifactStoreOver(s3, config, settings),
            wormArchive: new WormArchive(s3, config.ARCHIVE_BUCKET),
            archivedGenerations: new ArchivedGenerationReader(s3),
            sampleRetention: new SampleRetention(s3, config.ARTIFACT_BUCKET_SAMPLES),
          }
        : {}),
    };
    return { kind: 'worker', core, built, worker: { ...checks, served, resources } };
  }

  // api, cli and init: every client and store.
  if (cacheRedis === undefined || clickhouse === undefined) {
    throw new Error('a full root opens the cache Redis and ClickHouse');
  }
  const s3 = built(createS3(config), destroyS3);
  const archiveIndex = new ArchiveIndex(pool, schema);
  const stores: Stores = {
    hotStore: hot.store,
    hotRetention: hot.retention,
    activities,
    iocSearch: hot.search,
    watermarks: new PostgresWatermarkStore(pool, schema),
    batches: new PostgresBatchStore(pool, schema),
    detections: new PostgresDetectionStore(pool, schema),
    iocCache: iocCacheOver(cacheRedis, config, settings),
    idempotency: new RedisIdempotencyStore(redis, {
      prefix: config.QUEUE_PREFIX,
      ttlSeconds: settings.idempotency.ttlSeconds,
    }),
    artifacts: artifactStoreOver(s3, config, settings),
    artifactAudit: new ArtifactAuditLog(pool, schema),
    artifactDeletions: new ArtifactDeletionLog(pool, schema),
    wormArchive: new WormArchive(s3, config.ARCHIVE_BUCKET),
    archiveLedger: new ArchiveLedger(pool, schema),
    archiveIndex,
    archivedGenerations: new ArchivedGenerationReader(s3),
    activityArchiveLedger: new ActivityArchiveLedger(pool, schema),
    detectionArchiveLedger: new DetectionArchiveLedger(pool, schema),
    detectionRetention: new PostgresDetectionRetention(pool, schema),
    archivedIocs: config.ARCHIVE_ENABLED
      ? new ArchivedIocReader(archiveIndex, s3, {
          memoTtlMs: config.ARCHIVE_LOOKUP_MEMO_SECONDS * 1000,
          memoEntries: config.ARCHIVE_LOOKUP_MEMO_ENTRIES,
        })
      : undefined,
    sampleRetention: new SampleRetention(s3, config.ARTIFACT_BUCKET_SAMPLES),
    records,
    recordIndex,
    archivedRecords: new ArchivedRecordReader(recordIndex, s3),
    configStore: new PostgresConfigStore(pool, schema),
    maintenancePlans: new MaintenancePlanStore(pool, schema),
    deadLetters: new DeadLetterStore(pool, schema),
    quotas: new RedisQuotaStore(redis, { prefix: config.QUEUE_PREFIX }),
    usage: new RedisUsageStore(redis, { prefix: config.QUEUE_PREFIX }),
    memoryGauge:
      config.REDIS_MEMORY_CEILING === null
        ? undefined
        : new RedisMemoryGauge(redis, config.REDIS_MEMORY_CEILING),
  };
  // The api exports how many dead letters there are (one process, so the series is not doubled).
  if (core.role === 'api') {
    core.metrics.watchDeadLetters(() => stores.deadLetters.countsByQueueAndType());
  }
  const clients: BackendClients = { cacheRedis, pg: pool, clickhouse, s3 };
  const full: InitRoot = {
    ...core,
    ...clients,
    ...stores,
    ...checks,
    async initStores() {
      await stores.hotStore.init();
      await stores.iocSearch.init();
      await stores.watermarks.init();
      await stores.batches.init();
      await stores.detections.init();
      await stores.activities.init();
      await stores.archiveLedger.init();
      await stores.archiveIndex.init();
      await stores.activityArchiveLedger.init();
      await stores.detectionArchiveLedger.init();
      await stores.artifactAudit.init();
      await stores.configStore.init();
      await stores.maintenancePlans.init();
      await stores.artifactDeletions.init();
      await stores.records.init();
      await stores.recordIndex.init();
      await stores.deadLetters.init();
      await stores.artifacts.ensureBuckets();
      // Last: a process start takes the recorded version as proof that all of the above exists.
      await schemaVersion.record();
      // The spool is shared by api (writes) and workers (read, then remove).
      await mkdir(settings.uploads.spoolDir, { recursive: true, mode: 0o700 });
    },
    async checkBackends(timeoutMs = 3_000) {
      const checks: [BackendName, () => Promise<void>][] = [
        ['redis', () => pingRedis(redis, timeoutMs)],
        ['postgres', () => pingPostgres(pool)],
        ['s3', () => pingS3(s3)],
      ];
      if (config.cacheRedisUrl !== config.REDIS_URL) {
        checks.push(['cache-redis', () => pingRedis(cacheRedis, timeoutMs)]);
      }
      if (config.HOT_STORE === 'clickhouse') {
        checks.push(['clickhouse', () => pingClickHouse(clickhouse)]);
      }
      return Promise.all(
        checks.map(async ([name, check]) => {
          try {
            await withTimeout(check(), timeoutMs, name);
            return { name, ok: true };
          } catch (err) {
            return { name, ok: false, error: err instanceof Error ? err.message : String(err) };
          }
        }),
      );
    },
  };
  return { kind: 'full', core, built, full };
}

/** Logs, at most once per 10 s, that batches went into their jobs (the batch store is away). */
function inlineWarning(log: Logger): (err: unknown, jobs: number) => void {
  let last = 0;
  let since = 0;
  return (err, jobs) => {
    since += jobs;
    if (Date.now() - last < 10_000) return;
    last = Date.now();
    log.warn(
      { err: err instanceof Error ? err.message : String(err), jobs: since },
      'batch store unavailable: records enqueued inline in their jobs (the worker validates them)',
    );
    since = 0;
  };
}

/** How the role's Redis connections behave when Redis is away. */
function redisRole(role: RootRole, waitForRedis: boolean | undefined): Role {
  if (waitForRedis) return 'worker';
  return role === 'init' ? 'cli' : role;
}

/** Backends → the queue layer (registry, queues, producer) of the role. */
function withQueueLayer(
  stage: Stage,
  options: RootOptions<readonly AnyJobDefinition[]> & { role: RootRole },
): InitRoot | Root | WorkerRoot | SchedulerRoot | DashboardRoot {
  const { core, built } = stage;
  const { config, redis } = core;
  if (stage.kind === 'full' && core.role === 'init') return stage.full;
  const registry = options.registry ?? createJobRegistry();
  if (stage.kind === 'worker') {
    const { served, resources } = stage.worker;
    // Depths of the queues this worker serves, read on each scrape (no Worker can count).
    const queues = built(new QueueSet(redis, config.QUEUE_PREFIX, served), (q) => q.close());
    // The spool sweep (maintenance) asks whether an artifact.upload job still needs its file.
    const uploads = served.includes('maintenance')
      ? built(new QueueSet(redis, config.QUEUE_PREFIX, ['artifacts']), (q) => q.close())
      : undefined;
    // The dead-letter sweep (maintenance) reads the failed jobs of every queue.
    const everyQueue = served.includes('maintenance')
      ? built(new QueueSet(redis, config.QUEUE_PREFIX, QUEUE_NAMES), (q) => q.close())
      : undefined;
    return {
      ...core,
      ...stage.worker,
      registry,
      queues,
      resources: {
        ...resources,
        ...(uploads
          ? {
              spoolFileReferenced: spoolFileReferencedIn(uploads),
              jobsExist: jobsExistIn(redis, config.QUEUE_PREFIX),
            }
          : {}),
        ...(everyQueue ? { failedJobs: failedJobsIn(everyQueue) } : {}),
      },
    } satisfies WorkerRoot;
  }
  const keepCompleted = config.JOBS_KEEP_COMPLETED;
  if (core.role === 'dashboard') {
    const queues = built(
      new QueueSet(redis, config.QUEUE_PREFIX, QUEUE_NAMES, { keepCompleted }),
      (q) => q.close(),
    );
    return { ...core, queues } satisfies DashboardRoot;
  }
  const layer = built(
    openQueueLayer(redis, {
      registry,
      prefix: config.QUEUE_PREFIX,
      keepCompleted,
      fairQueues: config.fairQueues,
      ...(stage.kind === 'full' ? { batches: stage.full.batches } : {}),
      onInline: inlineWarning(core.log),
    }),
    (l) => l.close(),
  );
  const { queues, producer } = layer;
  if (stage.kind === 'full') return { ...stage.full, registry, queues, producer } satisfies Root;
  return { ...core, registry, queues, producer } satisfies SchedulerRoot;
}

/**
 * A worker's resources from a root with every store and queue (a test world, a bench): the
 * handlers of every job type can be built from it.
 */
export function workerResourcesOf(root: Root): WorkerResources {
  return {
    ...root,
    spool: new Spool(root.settings.uploads.spoolDir),
    spoolFileReferenced: spoolFileReferencedIn(root.queues),
    jobsExist: jobsExistIn(root.redis, root.config.QUEUE_PREFIX),
    failedJobs: failedJobsIn(root.queues),
  };
}

/** A page of a queue's failed jobs, newest first, as dead letters (deadletters.sweep). */
function failedJobsIn(queues: QueueSet): NonNullable<WorkerResources['failedJobs']> {
  return async (queue, offset, limit) => {
    const name = queue as QueueName;
    if (!queues.names().includes(name)) return [];
    const jobs = await queues.get(name).getFailed(offset, offset + limit - 1);
    // A job removed between the listing and its read comes back undefined.
    // A cancelled job ends failed too, but it is no dead letter (isFinalFailure).
    return jobs
      .filter((j) => j !== undefined && !isCancelledReason(j.failedReason))
      .map((job) => deadLetterOf(queue, job));
  };
}

/**
 * Whether jobs exist, in one round trip: BullMQ keeps a job as the hash
 * `<prefix>:<queue>:<id>` from enqueue until it is removed, whatever its state.
 */
function jobsExistIn(
  redis: Redis,
  prefix: string,
): (refs: readonly { queue: string; jobId: string }[]) => Promise<boolean[]> {
  return async (refs) => {
    if (refs.length === 0) return [];
    const pipeline = redis.pipeline();
    for (const { queue, jobId } of refs) pipeline.exists(`${prefix}:${queue}:${jobId}`);
    const results = (await pipeline.exec()) ?? [];
    return refs.map((_, i) => {
      const [err, n] = results[i] ?? [new Error('no answer'), 0];
      if (err) throw err;
      return Number(n) > 0;
    });
  };
}

/** Whether an artifact.upload job still needs a spool file (it exists and has not completed). */
function spoolFileReferencedIn(uploads: QueueSet): (file: string) => Promise<boolean> {
  return async (file) => {
    const id = jobIdOfSpoolFile(file);
    if (id === undefined) return false;
    const state = await uploads.get('artifacts').getJobState(id);
    // A completed job removed its file already; a failed one may still be retried.
    return state !== 'unknown' && state !== 'completed';
  };
}

/** The schema check, the eviction-policy check and the spool, over a process's clients. */
function startChecks(
  core: RootCore,
  clickhouse: ClickHouseClient | undefined,
  schemaVersion: PostgresSchemaVersion,
): StartChecks {
  const { config } = core;
  const checkSchema = async () => {
    await schemaVersion.check();
    if (clickhouse !== undefined) {
      await checkClickHouseTable(clickhouse, config.CLICKHOUSE_DATABASE);
    }
  };
  const prepareSpool = async () => {
    await mkdir(core.settings.uploads.spoolDir, { recursive: true, mode: 0o700 });
  };
  return {
    checkSchema,
    prepareSpool,
    async preflight() {
      await checkSchema();
      // Before any queue opens: BullMQ itself only prints a warning about the policy.
      await core.checkQueueRedis();
      await prepareSpool();
    },
  };
}

function iocCacheOver(cacheRedis: Redis, config: Config, settings: Settings): RedisIocCache {
  return new RedisIocCache(cacheRedis, {
    prefix: `${config.QUEUE_PREFIX}:cache`,
    ttlSeconds: settings.cache.ttlSeconds,
  });
}

function artifactStoreOver(s3: S3Client, config: Config, settings: Settings): S3ArtifactStore {
  return new S3ArtifactStore(s3, artifactBuckets(config), {
    partSize: settings.uploads.partSize,
    queueSize: settings.uploads.queueSize,
  });
}

function quit(redis: Redis): Promise<unknown> {
  return redis.quit().catch(() => redis.disconnect());
}

function destroyS3(s3: S3Client): Promise<void> {
  s3.destroy();
  return Promise.resolve();
}
