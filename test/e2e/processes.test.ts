import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCli, type CliProcess } from '../helpers/cli-process.js';
import { scrape } from '../helpers/prometheus.js';
import { StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';

// api and workers create no schema: this file's own, made by the init step (World.initStores).
let world: StowageWorld;
beforeAll(async () => {
  world = new StowageWorld();
  await world.initStores();
});
afterAll(async () => {
  await world?.close();
});

/** `stowage <args>` at LOG_LEVEL=info unless the test says otherwise, on this file's schema. */
function run(args: string[], env: Record<string, string>): CliProcess {
  return runCli(args, {
    LOG_LEVEL: 'info',
    DATABASE_SCHEMA: world.config.DATABASE_SCHEMA,
    CLICKHOUSE_DATABASE: world.config.CLICKHOUSE_DATABASE,
    ...env,
  });
}

const keys = `e2e-admin:${TEST_KEYS.admin}:admin`;
const procs: CliProcess[] = [];
afterEach(() => {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  procs.length = 0;
});

describe('stowage processes', () => {
  it('api answers /health and /ready, serves the dashboard, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const api = run(['api'], {
      API_PORT: String(port),
      API_KEYS: keys,
      QUEUE_PREFIX: `e2e${port}`,
    });
    procs.push(api);
    const base = `http://127.0.0.1:${port}`;
    await eventually(
      async () => ((await fetch(`${base}/health`).catch(() => undefined))?.ok ? true : undefined),
      30_000,
      'api up',
    );
    expect((await fetch(`${base}/ready`)).status).toBe(200);
    const board = await fetch(`${base}/admin/queues`, {
      headers: { authorization: `Bearer ${TEST_KEYS.admin}` },
    });
    expect(board.status).toBe(200);
    const metrics = await scrape(base);
    expect(
      metrics.has('stowage_queue_jobs', { role: 'api', queue: 'archive', state: 'waiting' }),
    ).toBe(true);
    api.child.kill('SIGTERM');
    expect(await api.exited).toBe(0);
    expect(api.output()).toContain('api stopped');
  });

  it('a worker serves the queues it is told, and stops gracefully on SIGINT', async () => {
    const worker = run(['worker', '--queues', 'ingest,cache'], {
      QUEUE_PREFIX: `e2e${Date.now()}`,
    });
    procs.push(worker);
    await eventually(
      () => Promise.resolve(worker.output().includes('worker started') ? true : undefined),
      30_000,
      'worker up',
    );
    expect(worker.output()).toMatch(/"queues":\["ingest","cache"\]/);
    // WORKER_METRICS_PORT=0 in tests: the worker logs the port it took.
    const port = /"msg":"metrics listening"/.test(worker.output())
      ? /"port":(\d+)/.exec(
          worker
            .output()
            .split('\n')
            .find((l) => l.includes('metrics listening')) ?? '',
        )?.[1]
      : undefined;
    expect(port).toMatch(/^\d+$/);
    const metrics = await scrape(`http://127.0.0.1:${port}`);
    expect(
      metrics.value('stowage_queue_jobs', { role: 'worker', queue: 'cache', state: 'active' }),
    ).toBe(0);
    expect(metrics.has('stowage_queue_jobs', { queue: 'archive' })).toBe(false);
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    worker.child.kill('SIGINT');
    expect(await worker.exited).toBe(0);
    expect(worker.output()).toContain('worker stopped');
  });

  it('a bad configuration exits 2 with every problem listed', async () => {
    const api = run(['api'], { API_PORT: 'eighty', HOT_STORE: 'oracle' });
    procs.push(api);
    expect(await api.exited).toBe(2);
    expect(api.output()).toMatch(/API_PORT/);
    expect(api.output()).toMatch(/HOT_STORE/);
  });

  it('up starts the local services and every process, prints the URLs and a key, and stops on SIGINT', async () => {
    const port = await freePort();
    const dashboardPort = await freePort();
    const up = run(['up'], {
      API_PORT: String(port),
      DASHBOARD_PORT: String(dashboardPort),
      API_PUBLIC_URL: `http://127.0.0.1:${port}`,
      QUEUE_PREFIX: `e2eup${port}`,
      LOG_PRETTY: 'false',
    });
    procs.push(up);
    await eventually(
      () => Promise.resolve(up.output().includes('API key') ? true : undefined),
      120_000,
      'up banner',
    );
    const key = /API key\s+(\S+)/.exec(up.output())?.[1];
    expect(key).toMatch(/^[0-9a-f]{48}$/);
    expect(up.output()).toContain(`http://127.0.0.1:${port}/admin/queues`);
    const base = `http://127.0.0.1:${port}`;
    await eventually(
      async () => ((await fetch(`${base}/ready`).catch(() => undefined))?.ok ? true : undefined),
      60_000,
      'api ready',
    );
    const board = await eventually(
      () =>
        fetch(`http://127.0.0.1:${dashboardPort}/admin/queues/api/queues`, {
          headers: { authorization: `Bearer ${key}` },
        }),
      30_000,
      'standalone dashboard',
    );
    expect(board.status).toBe(200);
    const dashboardMetrics = await scrape(`http://127.0.0.1:${dashboardPort}`);
    expect(dashboardMetrics.has('nodejs_heap_size_used_bytes', { role: 'dashboard' })).toBe(true);
    await eventually(
      () =>
        Promise.resolve(
          up.output().includes('worker started') && up.output().includes('"msg":"scheduled"')
            ? true
            : undefined,
        ),
      30_000,
      'worker and scheduler up',
    );
    up.child.kill('SIGINT');
    expect(await up.exited).toBe(0);
  }, 180_000);
});
