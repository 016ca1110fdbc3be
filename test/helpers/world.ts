import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { loadConfig, type Config, type QueueName } from '../../src/config.js';
import { createRoot, workerResourcesOf, type Root } from '../../src/composition/root.js';
import { createLogger } from '../../src/log.js';
import { createApp } from '../../src/api/app.js';
import { createHttpServer, httpServerLimits } from '../../src/http/http-server.js';
import type { Producer } from '../../queues/producer.js';
import type { QueueSet } from '../../queues/queue-set.js';
import { WorkerHost } from '../../workers/worker-host.js';
import type { HandlerTable } from '../../workers/job-runner.js';
import { testHandlers, testRegistry } from '../fixtures/test-jobs.js';
import type { AnyJobDefinition } from '../../jobs/job-definition.js';
import type { JobRegistry } from '../../jobs/job-registry.js';
import { createJobRegistry, JOB_TYPES } from '../../jobs/registry.js';
import { createHandlers } from '../../jobs/job-type.js';

/** Keys every test world accepts: one per scope, plus admin. */
export const TEST_KEYS = {
  ingest: 'ingest-key-0123456789abcdef',
  artifacts: 'artifacts-key-0123456789abcdef',
  read: 'read-key-0123456789abcdef',
  admin: 'admin-key-0123456789abcdef',
} as const;

/** A configuration for tests against the local services, isolated by a random queue prefix. */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    ...process.env,
    QUEUE_PREFIX: `t${randomBytes(5).toString('hex')}`,
    DATABASE_SCHEMA: `t_${randomBytes(5).toString('hex')}`,
    CLICKHOUSE_DATABASE: `t_${randomBytes(5).toString('hex')}`,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    API_KEYS: Object.entries(TEST_KEYS)
      .map(([scope, secret]) => `${scope}-client:${secret}:${scope}`)
      .join(','),
    SHUTDOWN_GRACE_MS: '2000',
    ...overrides,
  });
}

/** One test's isolated world: its own queues, schema, sink, producer, workers and api. */
export class World<Defs extends readonly AnyJobDefinition[]> {
  readonly config: Config;
  /** The world's composition root (the api's: every client, store and queue). */
  readonly deps: Root<Defs>;
  readonly queues: QueueSet;
  readonly producer: Producer<Defs>;
  readonly sink: string;
  private readonly hosts: WorkerHost[] = [];
  private server: Server | undefined;
  private storesCreated = false;

  constructor(
    readonly registry: JobRegistry<Defs>,
    private readonly defaultHandlers: (world: World<Defs>) => HandlerTable | Promise<HandlerTable>,
    overrides: Record<string, string> = {},
  ) {
    this.config = testConfig(overrides);
    const log = createLogger(this.config);
    this.deps = createRoot(this.config, log, { role: 'api', registry });
    this.queues = this.deps.queues;
    this.producer = this.deps.producer;
    this.sink = `${this.config.QUEUE_PREFIX}:sink`;
  }

  /** Starts a worker host on the given queues with the test handlers. */
  async startWorker(
    queues: QueueName[] = ['ingest', 'artifacts', 'maintenance'],
    handlers?: HandlerTable,
  ) {
    const host = new WorkerHost({
      connect: (name) => this.deps.connectRedis(name),
      prefix: this.config.QUEUE_PREFIX,
      queues,
      registry: this.registry,
      handlers: handlers ?? (await this.defaultHandlers(this)),
      log: this.deps.log,
      metrics: this.deps.metrics,
      fairQueues: this.config.fairQueues,
    });
    host.start();
    await host.ready();
    this.hosts.push(host);
    return host;
  }

  /** Starts the api on a free port; returns its base URL. */
  async startApi(): Promise<string> {
    await Promise.all([this.queues.ready(), this.producer.ready()]);
    const app = createApp({
      config: this.config,
      deps: this.deps,
      log: this.deps.log,
      registry: this.registry,
      producer: this.producer,
      queues: this.queues,
    });
    // The same server settings as `stowage api` (header and body time limits).
    this.server = createHttpServer(app, httpServerLimits(this.config));
    this.server.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => this.server!.once('listening', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Creates this world's own PostgreSQL schema and ClickHouse database (dropped on close). */
  async initStores(): Promise<void> {
    this.storesCreated = true;
    await this.deps.initStores();
  }

  private async dropStores(): Promise<void> {
    await this.deps.pg.query(`DROP SCHEMA IF EXISTS ${this.config.DATABASE_SCHEMA} CASCADE`);
    if (this.config.HOT_STORE === 'clickhouse') {
      await this.deps.clickhouse.command({
        query: `DROP DATABASE IF EXISTS ${this.config.CLICKHOUSE_DATABASE}`,
      });
    }
    const keys = await this.deps.cacheRedis.keys(`${this.config.QUEUE_PREFIX}:cache*`);
    if (keys.length > 0) await this.deps.cacheRedis.del(...keys);
  }

  /** The sink hash as numbers. */
  async sinkValues(): Promise<Record<string, number>> {
    const raw = await this.deps.redis.hgetall(this.sink);
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Number(v)]));
  }

  /** Stops everything and removes every key of this world. */
  async close(): Promise<void> {
    await Promise.all(this.hosts.map((h) => h.stop(500)));
    if (this.server) {
      this.server.closeAllConnections();
      await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    }
    await Promise.all(
      this.queues.all().map((q) => q.obliterate({ force: true }).catch(() => undefined)),
    );
    await this.deps.redis.del(this.sink);
    const records = await this.deps.redis.keys(`${this.config.QUEUE_PREFIX}:idempotency:*`);
    if (records.length > 0) await this.deps.redis.del(...records);
    const clocks = await this.deps.redis.keys(`${this.config.QUEUE_PREFIX}:*:fair`);
    if (clocks.length > 0) await this.deps.redis.del(...clocks);
    if (this.storesCreated) await this.dropStores();
    await this.deps.close();
  }
}

/** A world running the framework's test job types (test/fixtures/test-jobs.ts). */
export class TestWorld extends World<ReturnType<typeof testRegistry>['definitions']> {
  constructor(overrides: Record<string, string> = {}) {
    super(testRegistry(), (w) => testHandlers(w.deps.redis, w.sink), overrides);
  }
}

/** A world running Stowage's own job types against the local services. */
export class StowageWorld extends World<ReturnType<typeof createJobRegistry>['definitions']> {
  constructor(overrides: Record<string, string> = {}) {
    super(
      createJobRegistry(),
      (w) => createHandlers(JOB_TYPES, workerResourcesOf(w.deps)),
      overrides,
    );
  }
}

/** Polls until check returns a value that is not undefined, or fails after the deadline. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${what} not reached within ${timeoutMs} ms${last instanceof Error ? `: ${last.message}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}
