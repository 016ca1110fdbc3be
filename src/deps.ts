import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Config } from './config.js';
import { createClickHouse, pingClickHouse } from './connections/clickhouse.js';
import { createPgPool, pingPostgres } from './connections/postgres.js';
import { createRedis, pingRedis, withTimeout, type Role } from './connections/redis.js';
import { createS3, pingS3 } from './connections/s3.js';
import type { Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import type { HotRule } from './domain/ioc.js';
import { configureTimestampBounds } from './domain/timestamp.js';
import { ArtifactAuditLog } from './stores/postgres/artifact-audit.js';
import { S3ArtifactStore } from './stores/s3/artifact-store.js';
import { artifactBuckets } from './stores/s3/artifact-buckets.js';
import { createHotBackend } from './stores/hot/create-hot-backend.js';
import type { HotStore } from './stores/hot/hot-store.js';
import { RedisIocCache } from './stores/redis/ioc-cache.js';
import { RedisIdempotencyStore } from './stores/redis/idempotency-store.js';
import { PostgresWatermarkStore } from './stores/postgres/watermark-store.js';
import { ArchiveLedger } from './stores/postgres/archive-ledger.js';
import { WormArchive } from './stores/s3/worm-archive.js';
import type { HotRetention } from './stores/hot/hot-retention.js';
import { SampleRetention } from './stores/s3/sample-retention.js';
import { PostgresSchemaVersion, checkClickHouseTable } from './stores/postgres/schema-version.js';
import { readMaxmemoryPolicy } from './connections/redis-eviction-policy.js';
import { StartupRefusedError } from './errors/index.js';

/** A backend /ready checks, by the name it reports. */
export type BackendName = 'redis' | 'cache-redis' | 'postgres' | 'clickhouse' | 's3';

/**
 * The clients of one process, built once and handed down. Each opens on first use, so a
 * process only connects to what it touches; close() closes what was opened.
 */
export interface Deps {
  readonly config: Config;
  readonly log: Logger;
  readonly role: Role;
  /** The queue Redis connection for non-blocking commands (queues, producers). */
  readonly redis: Redis;
  readonly cacheRedis: Redis;
  readonly pg: pg.Pool;
  readonly clickhouse: ClickHouseClient;
  readonly s3: S3Client;
  /** The hot IOC store HOT_STORE selects. */
  readonly hotStore: HotStore;
  readonly watermarks: PostgresWatermarkStore;
  readonly iocCache: RedisIocCache;
  /** Idempotency-Key records in the queue Redis (IDEMPOTENCY_TTL_HOURS window). */
  readonly idempotency: RedisIdempotencyStore;
  /** The artifact buckets of seed 003 (one per kind). */
  readonly artifacts: S3ArtifactStore;
  /** Admin overwrites of artifacts (PostgreSQL `artifact_overwrites`). */
  readonly artifactAudit: ArtifactAuditLog;
  /** The WORM archive bucket (ARCHIVE_BUCKET, S3 Object Lock). */
  readonly wormArchive: WormArchive;
  /** Which hot-store days are archived (PostgreSQL). */
  readonly archiveLedger: ArchiveLedger;
  /** Retention over the hot store HOT_STORE selects. */
  readonly hotRetention: HotRetention;
  /** Retention of log samples in ARTIFACT_BUCKET_SAMPLES. */
  readonly sampleRetention: SampleRetention;
  /** This process's Prometheus metrics (one registry, labelled with the role). */
  readonly metrics: Metrics;
  /** The hot rule from configuration (seed 000: confidence ≥ 0.7, last seen ≤ 48 h). */
  readonly hotRule: HotRule;
  /**
   * Creates every store's schema and the artifact buckets when missing, then records the
   * schema version. DDL: `stowage init` (and tests) only, never a process start.
   */
  initStores(): Promise<void>;
  /**
   * A process start's schema check (reads only, short lock timeout): throws a
   * StartupRefusedError naming `stowage init` when the schema is missing or older.
   */
  checkSchema(): Promise<void>;
  /**
   * Checks that the queue Redis runs maxmemory-policy noeviction: a StartupRefusedError in
   * production, a warning otherwise.
   */
  checkQueueRedis(): Promise<void>;
  /** Creates SPOOL_DIR when missing (a local directory, shared by api and workers). */
  prepareSpool(): Promise<void>;
  /**
   * What an api or worker checks before it opens a queue: the schema, the queue Redis's
   * eviction policy, the spool. No DDL: `stowage init` creates the schema.
   */
  preflight(): Promise<void>;
  /** A new blocking connection to the queue Redis (BullMQ Workers need one each; they wait for Redis). */
  connectRedis(name: string): Redis;
  /** Checks each backend the deployment uses; the names of those that did not answer. */
  checkBackends(timeoutMs?: number): Promise<{ name: BackendName; ok: boolean; error?: string }[]>;
  close(): Promise<void>;
}

/** Builds the clients of a process for its role (the api fails fast, workers wait). */
export function createDeps(config: Config, role: Role, log: Logger): Deps {
  // Every schema with a timestamp validates against these from now on (see timestamp.ts for
  // why they are configured once per process rather than built into the schemas).
  configureTimestampBounds({
    floor: config.TIMESTAMP_FLOOR,
    maxFutureSkewMs: config.TIMESTAMP_FUTURE_SKEW_SECONDS * 1000,
  });
  const opened = new Map<string, { close: () => Promise<unknown> }>();
  const once = <T>(key: string, make: () => T, close: (t: T) => Promise<unknown>): (() => T) => {
    let value: T | undefined;
    return () => {
      if (value === undefined) {
        value = make();
        const v = value;
        opened.set(key, { close: () => close(v) });
      }
      return value;
    };
  };
  const quit = (r: Redis) => r.quit().catch(() => r.disconnect());
  let lastRedisWarning = 0;
  const onRedisError = (err: Error) => {
    // One line per 10 s is enough to say Redis is away; reconnects go on quietly.
    if (Date.now() - lastRedisWarning < 10_000) return;
    lastRedisWarning = Date.now();
    log.warn({ err: err.message }, 'redis connection error; reconnecting');
  };

  const redis = once(
    'redis',
    () => createRedis(config.REDIS_URL, role, 'main', onRedisError),
    quit,
  );
  const cacheRedis = once(
    'cache-redis',
    () => createRedis(config.cacheRedisUrl, role, 'cache', onRedisError),
    quit,
  );
  const pool = once(
    'pg',
    () => createPgPool(config.DATABASE_URL, 10, log),
    (p) => p.end(),
  );
  const clickhouse = once(
    'clickhouse',
    () => createClickHouse(config),
    (c) => c.close(),
  );
  const s3 = once(
    's3',
    () => createS3(config),
    (c) => {
      c.destroy();
      return Promise.resolve();
    },
  );
  const extra: Redis[] = [];
  const lazy = <T>(make: () => T): (() => T) => {
    let value: T | undefined;
    return () => (value ??= make());
  };
  // The hot store's backends, each opened only when the selected backend touches it.
  const backends = {
    get pg() {
      return pool();
    },
    get clickhouse() {
      return clickhouse();
    },
  };
  const hotBackend = lazy(() => createHotBackend(config, backends));
  const hotStore = () => hotBackend().store;
  const watermarks = lazy(
    () => new PostgresWatermarkStore(pool(), { schema: config.DATABASE_SCHEMA }),
  );
  const iocCache = lazy(
    () =>
      new RedisIocCache(cacheRedis(), {
        prefix: `${config.QUEUE_PREFIX}:cache`,
        ttlSeconds: config.CACHE_TTL_SECONDS,
      }),
  );
  const idempotency = lazy(
    () =>
      new RedisIdempotencyStore(redis(), {
        prefix: config.QUEUE_PREFIX,
        ttlSeconds: Math.round(config.IDEMPOTENCY_TTL_HOURS * 3_600),
      }),
  );

  const artifacts = lazy(
    () =>
      new S3ArtifactStore(s3(), artifactBuckets(config), {
        partSize: config.UPLOAD_PART_SIZE_BYTES,
        queueSize: config.UPLOAD_QUEUE_SIZE,
      }),
  );

  const artifactAudit = lazy(
    () => new ArtifactAuditLog(pool(), { schema: config.DATABASE_SCHEMA }),
  );
  const wormArchive = lazy(() => new WormArchive(s3(), config.ARCHIVE_BUCKET));
  const archiveLedger = lazy(() => new ArchiveLedger(pool(), { schema: config.DATABASE_SCHEMA }));
  const schemaVersion = lazy(
    () => new PostgresSchemaVersion(pool(), { schema: config.DATABASE_SCHEMA }),
  );
  const hotRetention = () => hotBackend().retention;
  const sampleRetention = lazy(() => new SampleRetention(s3(), config.ARTIFACT_BUCKET_SAMPLES));
  const metrics = lazy(() => createMetrics({ role }));

  return {
    config,
    log,
    role,
    get redis() {
      return redis();
    },
    get cacheRedis() {
      return cacheRedis();
    },
    get pg() {
      return pool();
    },
    get clickhouse() {
      return clickhouse();
    },
    get s3() {
      return s3();
    },
    get hotStore() {
      return hotStore();
    },
    get watermarks() {
      return watermarks();
    },
    get iocCache() {
      return iocCache();
    },
    get idempotency() {
      return idempotency();
    },
    get artifacts() {
      return artifacts();
    },
    get artifactAudit() {
      return artifactAudit();
    },
    get wormArchive() {
      return wormArchive();
    },
    get archiveLedger() {
      return archiveLedger();
    },
    get hotRetention() {
      return hotRetention();
    },
    get sampleRetention() {
      return sampleRetention();
    },
    get metrics() {
      return metrics();
    },
    hotRule: { minConfidence: config.HOT_MIN_CONFIDENCE, maxAgeHours: config.HOT_MAX_AGE_HOURS },
    async initStores() {
      await hotStore().init();
      await watermarks().init();
      await archiveLedger().init();
      await artifactAudit().init();
      await artifacts().ensureBuckets();
      // Last: a process start takes the recorded version as proof that all of the above exists.
      await schemaVersion().record();
      // The spool is shared by api (writes) and workers (read, then remove).
      await mkdir(resolve(config.SPOOL_DIR), { recursive: true, mode: 0o700 });
    },
    async checkSchema() {
      await schemaVersion().check();
      if (config.HOT_STORE === 'clickhouse') {
        await checkClickHouseTable(clickhouse(), config.CLICKHOUSE_DATABASE);
      }
    },
    async checkQueueRedis() {
      const connection = redis();
      // Wait for Redis as the process did before this check (the api's commands fail fast).
      if (connection.status !== 'ready') {
        await new Promise<void>((ready) => connection.once('ready', () => ready()));
      }
      const policy = await readMaxmemoryPolicy(connection);
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
    async prepareSpool() {
      await mkdir(resolve(config.SPOOL_DIR), { recursive: true, mode: 0o700 });
    },
    async preflight() {
      await this.checkSchema();
      // Before any queue opens: BullMQ itself only prints a warning about the policy.
      await this.checkQueueRedis();
      await this.prepareSpool();
    },
    connectRedis(name) {
      const connection = createRedis(config.REDIS_URL, 'worker', name, onRedisError);
      extra.push(connection);
      return connection;
    },
    async checkBackends(timeoutMs = 3_000) {
      const checks: [BackendName, () => Promise<void>][] = [
        ['redis', () => pingRedis(redis(), timeoutMs)],
        ['postgres', () => pingPostgres(pool())],
        ['s3', () => pingS3(s3())],
      ];
      if (config.cacheRedisUrl !== config.REDIS_URL) {
        checks.push(['cache-redis', () => pingRedis(cacheRedis(), timeoutMs)]);
      }
      if (config.HOT_STORE === 'clickhouse') {
        checks.push(['clickhouse', () => pingClickHouse(clickhouse())]);
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
    async close() {
      await Promise.allSettled([...opened.values()].map((o) => o.close()));
      await Promise.allSettled(extra.map(quit));
      opened.clear();
    },
  };
}
