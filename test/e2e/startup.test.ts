// Process start-up against the real services: no DDL on start (the schema is `stowage
// init`'s), a one-line refusal naming init when the schema is missing, and a production
// refusal of a queue Redis that may evict.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { createLogger } from '../../src/log.js';
import { createRoot } from '../../src/composition/root.js';
import { PostgresHotStore } from '../../src/stores/postgres/postgres-hot-store.js';
import type { StoredIoc } from '../../src/domain/ioc.js';
import { PostgresSchemaVersion, SCHEMA_VERSION } from '../../src/stores/postgres/schema-version.js';
import { freePort, runCli, type CliProcess } from '../helpers/cli-process.js';
import { StowageWorld, eventually, testConfig } from '../helpers/world.js';

const procs: CliProcess[] = [];
afterEach(() => {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  procs.length = 0;
});

function run(args: string[], env: Record<string, string>): CliProcess {
  const p = runCli(args, { LOG_LEVEL: 'info', ARCHIVE_ENABLED: 'false', ...env });
  procs.push(p);
  return p;
}

/** Resolves once the process printed `line`, or rejects when it exits first. */
function printed(p: CliProcess, line: string, timeoutMs = 60_000): Promise<true> {
  return eventually(
    () => {
      if (p.output().includes(line)) return Promise.resolve(true as const);
      if (p.child.exitCode !== null) {
        return Promise.reject(new Error(`exited ${p.child.exitCode}:\n${p.output()}`));
      }
      return Promise.resolve(undefined);
    },
    timeoutMs,
    `"${line}" printed`,
  );
}

const ioc = (value: string): StoredIoc => ({
  type: 'domain',
  value,
  threat_type: 'c2',
  confidence: 0.5,
  first_seen: new Date('2026-01-01T00:00:00Z'),
  last_seen: new Date('2026-01-02T00:00:00Z'),
  sources: ['startup-test'],
  tags: [],
});

describe('process start-up and the schema', () => {
  const schema = `t_${randomBytes(5).toString('hex')}`;
  const env = { DATABASE_SCHEMA: schema, QUEUE_PREFIX: `t${randomBytes(5).toString('hex')}` };
  let pool: pg.Pool;

  beforeAll(() => {
    pool = new pg.Pool({ connectionString: testConfig().DATABASE_URL, max: 4 });
  });
  afterAll(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  });

  it('a worker or api on an empty schema exits 3 with one line naming `stowage init`; after init the worker starts', async () => {
    for (const command of [['worker', '--queues', 'ingest'], ['api']]) {
      const p = run(command, { ...env, API_PORT: String(await freePort()) });
      expect(await p.exited, p.output()).toBe(EXIT.refused);
      const lines = p.output().trim().split('\n');
      expect(lines, p.output()).toHaveLength(1);
      expect(lines[0]).toBe(
        `stowage ${command[0]}: PostgreSQL schema "${schema}" has no Stowage tables (no schema_version): run \`stowage init\` first`,
      );
    }
    // The refused start created nothing.
    const { rows } = await pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    expect(rows).toHaveLength(0);

    const init = run(['init'], env);
    expect(await init.exited, init.output()).toBe(0);
    expect(init.output()).toMatch(new RegExp(`schema version ${SCHEMA_VERSION}`));

    const worker = run(['worker', '--queues', 'ingest'], env);
    await printed(worker, 'worker started');
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  }, 180_000);

  it('a schema older than the build needs is refused, naming both versions and `stowage init`', async () => {
    const versions = new PostgresSchemaVersion(pool, { schema });
    expect(await versions.check()).toBe(SCHEMA_VERSION);
    await expect(versions.check(SCHEMA_VERSION + 1)).rejects.toThrow(
      `PostgreSQL schema "${schema}" is at schema version ${SCHEMA_VERSION}, this build needs ${SCHEMA_VERSION + 1}: run \`stowage init\``,
    );
    // init never lowers a recorded version (a newer build's init ran first).
    await versions.record(SCHEMA_VERSION + 1);
    await versions.record();
    expect(await versions.read()).toBe(SCHEMA_VERSION + 1);
  });

  it('a worker started while a transaction holds a row of iocs starts, and concurrent inserts are not delayed by a second', async () => {
    // The init step, in-process (a no-op when the first test ran it).
    const config = testConfig({ DATABASE_SCHEMA: schema, ARCHIVE_ENABLED: 'false' });
    const initDeps = createRoot(config, createLogger(config), { role: 'init' });
    await initDeps.initStores().finally(() => initDeps.close());
    const store = new PostgresHotStore(pool, { schema });
    await store.upsert([ioc('held.example')]);
    // The open write transaction a long ingest (or a killed worker's leftover session) holds.
    const holder = await pool.connect();
    let latencies: number[] = [];
    let worker: CliProcess | undefined;
    try {
      await holder.query('BEGIN');
      await holder.query(`UPDATE "${schema}".iocs SET confidence = 0.6 WHERE value = $1`, [
        'held.example',
      ]);
      worker = run(['worker', '--queues', 'ingest'], env);
      let started = false;
      void printed(worker, 'worker started', 90_000).then(
        () => (started = true),
        () => undefined,
      );
      // Ingest goes on while the worker starts: each insert timed on its own.
      const deadline = Date.now() + 90_000;
      let n = 0;
      while (!started && Date.now() < deadline && worker.child.exitCode === null) {
        const t0 = performance.now();
        // Bounded: an insert queued behind start-up DDL would wait as long as the
        // transaction stays open, which is until this loop ends.
        const stalled = await Promise.race([
          store.upsert([ioc(`during-${n++}.example`)]).then(() => false),
          new Promise<true>((r) => setTimeout(() => r(true), 5_000)),
        ]);
        latencies.push(performance.now() - t0);
        if (stalled) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      // Started while the transaction was still open: nothing in its start waited for it.
      expect(started, worker.output()).toBe(true);
      expect(latencies.length).toBeGreaterThan(5);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      holder.release();
    }
    latencies = latencies.sort((a, b) => a - b);
    // Measured, not assumed: the slowest insert while the worker started.
    console.log(
      `inserts during worker start: ${latencies.length}, median ${latencies[latencies.length >> 1]?.toFixed(1)} ms, max ${latencies.at(-1)?.toFixed(1)} ms`,
    );
    expect(latencies.at(-1)).toBeLessThan(1_000);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  }, 180_000);
});

describe('the queue Redis eviction policy', () => {
  let dir: string;
  let server: ChildProcess;
  let url: string;
  let world: StowageWorld;

  beforeAll(async () => {
    // A throwaway Redis that may evict: what a shared or cache Redis often runs.
    dir = await mkdtemp(join(tmpdir(), 'stowage-lru-'));
    const port = await freePort();
    server = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--maxmemory-policy',
        'allkeys-lru',
      ],
      { stdio: 'ignore' },
    );
    url = `redis://127.0.0.1:${port}`;
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    await eventually(() => probe.connect().then(() => true as const), 10_000, 'redis-server up');
    probe.disconnect();
    world = new StowageWorld();
    await world.initStores();
  });
  afterAll(async () => {
    await world?.close();
    server?.kill('SIGTERM');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const strongKeys = `ops:${'Zq7'.repeat(4)}${randomBytes(12).toString('hex')}:admin`;

  it('refuses to start a worker, api or scheduler in production, in one line', async () => {
    for (const command of [['worker', '--queues', 'ingest'], ['api'], ['scheduler']]) {
      const p = run(command, {
        NODE_ENV: 'production',
        REDIS_URL: url,
        API_KEYS: strongKeys,
        API_PORT: String(await freePort()),
        DATABASE_SCHEMA: world.config.DATABASE_SCHEMA,
        QUEUE_PREFIX: world.config.QUEUE_PREFIX,
      });
      expect(await p.exited, p.output()).toBe(EXIT.refused);
      expect(p.output().trim()).toBe(
        `stowage ${command[0]}: REDIS_URL: the queue Redis runs maxmemory-policy allkeys-lru; it must be noeviction (evicted keys lose jobs)`,
      );
      expect(p.output()).not.toContain(strongKeys.split(':')[1]!);
    }
  }, 180_000);

  it('only warns outside production', async () => {
    const lines: string[] = [];
    const config = testConfig({ REDIS_URL: url, NODE_ENV: 'development', LOG_LEVEL: 'warn' });
    const log = createLogger(config, {}, { write: (line: string) => lines.push(line) });
    const deps = createRoot(config, log, { role: 'worker' });
    try {
      await deps.checkQueueRedis();
    } finally {
      await deps.close();
    }
    expect(lines.join('')).toMatch(/maxmemory-policy allkeys-lru; it must be noeviction/);
  });

  it('accepts the local queue Redis, which runs noeviction', async () => {
    const config = testConfig({ NODE_ENV: 'production', API_KEYS: strongKeys });
    const deps = createRoot(config, createLogger(config), { role: 'worker' });
    try {
      await expect(deps.checkQueueRedis()).resolves.toBeUndefined();
    } finally {
      await deps.close();
    }
  });
});
