import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError } from '../../src/errors/index.js';
import { createHandlers } from '../../jobs/job-type.js';
import { JOB_TYPES } from '../../jobs/registry.js';
import { workerResourcesOf } from '../../src/composition/root.js';
import type { Handler } from '../../jobs/job-definition.js';
import type { HandlerTable } from '../../workers/job-runner.js';
import { CLI, REPO_ROOT, freePort, runCli } from '../helpers/cli-process.js';
import { StowageWorld, eventually } from '../helpers/world.js';

/** What one finished `stowage` process printed, and how it exited. */
interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

const ioc = (value: string, confidence = 0.9) => ({
  type: 'domain' as const,
  value,
  threat_type: 'c2',
  confidence,
  source: 'e2e',
  first_seen: '2026-01-01T00:00:00Z',
  last_seen: '2026-01-02T00:00:00Z',
});

describe('stowage operator commands against the real services', () => {
  let world: StowageWorld;
  let env: Record<string, string>;
  let broken: string;

  /** Runs `stowage <args>` to its end with stdout and stderr apart (stderr is a pipe, not a TTY). */
  async function stowage(...args: string[]): Promise<Finished> {
    const p = runCli(args, env);
    let stdout = '';
    let stderr = '';
    p.child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    p.child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await p.exited;
    return { code, stdout, stderr };
  }

  /** Runs `stowage <args>` under a pseudo-terminal (util-linux script), output merged. */
  async function stowageInTty(...args: string[]): Promise<{ code: number | null; output: string }> {
    const command = [process.execPath, ...CLI, ...args].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    return { code, output };
  }

  const jsonOf = <T>(run: Finished): T => {
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as T;
  };

  const stateOf = async (id: string) =>
    jsonOf<{ state: string }>(await stowage('status', id, '--json')).state;

  const failedCount = () => world.queues.get('ingest').getFailedCount();

  /** Resolves once no ingest job is failed, waiting or running: every retried job completed. */
  const drained = () =>
    eventually(
      async () => {
        const c = await world.queues
          .get('ingest')
          .getJobCounts('failed', 'waiting', 'active', 'delayed');
        return Object.values(c).every((n) => n === 0) ? true : undefined;
      },
      30_000,
      'every retried job completed',
    );

  beforeAll(async () => {
    world = new StowageWorld({ ARCHIVE_ENABLED: 'false' });
    await world.initStores();
    broken = `${world.config.QUEUE_PREFIX}:e2e-broken`;
    const real = await createHandlers(JOB_TYPES, workerResourcesOf(world.deps));
    const insert = real['iocs.insert']!;
    // iocs.insert fails for good while the flag is set, as it would with a hot store refusing
    // the batch; once cleared, the real handler writes to this world's schema.
    const flaky: Handler<never> = async (payload, ctx) => {
      if ((await world.deps.redis.exists(broken)) === 1) {
        throw new PermanentError('e2e_refused', 'the hot store refused the batch (e2e flag set)');
      }
      return insert(payload, ctx);
    };
    const handlers: HandlerTable = { ...real, 'iocs.insert': flaky };
    await world.startWorker(['ingest', 'maintenance'], handlers);
    env = {
      QUEUE_PREFIX: world.config.QUEUE_PREFIX,
      DATABASE_SCHEMA: world.config.DATABASE_SCHEMA,
      CLICKHOUSE_DATABASE: world.config.CLICKHOUSE_DATABASE,
      ARCHIVE_ENABLED: 'false',
      LOG_LEVEL: 'warn',
    };
  });
  afterAll(async () => {
    await world?.close();
  });

  it('enqueue validates through the job definition, and status shows the finished job', async () => {
    const enqueued = jsonOf<{ id: string; queue: string }>(
      await stowage(
        'enqueue',
        'iocs.insert',
        '--payload',
        JSON.stringify({ iocs: [ioc('a.example')] }),
        '--json',
      ),
    );
    expect(enqueued.queue).toBe('ingest');
    await eventually(
      async () => ((await stateOf(enqueued.id)) === 'completed' ? true : undefined),
      30_000,
      'completed',
    );
    const human = await stowage('status', enqueued.id);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^state:\s+completed$/m);
    expect(human.stdout).toMatch(/^attempts:\s+1\/10$/m);
    const json = jsonOf<{ queue: string; return_value: unknown; progress: unknown }>(
      await stowage('status', enqueued.id, '--queue', 'ingest', '--json'),
    );
    expect(json.return_value).not.toBeNull();
    expect(json.progress).toBe(100);

    // The same idempotency key is the same job.
    const keyed = (key: string) =>
      stowage(
        'enqueue',
        'iocs.insert',
        '--payload',
        JSON.stringify({ iocs: [ioc('b.example')] }),
        '--idempotency-key',
        key,
        '--json',
      );
    const first = jsonOf<{ id: string }>(await keyed('op-1'));
    expect(jsonOf<{ id: string }>(await keyed('op-1')).id).toBe(first.id);
  }, 90_000);

  it('a bad payload exits 2 naming the failing field; an unknown job id exits 1', async () => {
    const bad = await stowage(
      'enqueue',
      'iocs.insert',
      '--payload',
      JSON.stringify({ iocs: [ioc('c.example', 2)] }),
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('iocs.0.confidence');
    expect(bad.stdout).toBe('');
    const unknownType = await stowage('enqueue', 'iocs.upsert', '--payload', '{}');
    expect(unknownType.code).toBe(2);
    expect(unknownType.stderr).toContain('unknown job type "iocs.upsert"');
    const missing = await stowage('status', 'iocs.insert.nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no job "iocs.insert.nope"');
  }, 60_000);

  it('a failed job shows its reason, and retry runs it again once the cause is gone', async () => {
    await world.deps.redis.set(broken, '1');
    const { id } = jsonOf<{ id: string }>(
      await stowage(
        'enqueue',
        'iocs.insert',
        '--payload',
        JSON.stringify({ iocs: [ioc('d.example')] }),
        '--json',
      ),
    );
    await eventually(
      async () => ((await stateOf(id)) === 'failed' ? true : undefined),
      30_000,
      'failed',
    );
    const status = jsonOf<{ failed_reason: string; attempts_made: number }>(
      await stowage('status', id, '--json'),
    );
    expect(status.failed_reason).toContain('e2e_refused');
    expect(status.attempts_made).toBe(1);

    await world.deps.redis.del(broken);
    const retried = await stowage('retry', id);
    expect(retried.code).toBe(0);
    expect(retried.stdout).toContain(`retried ${id} on ingest`);
    await eventually(
      async () => ((await stateOf(id)) === 'completed' ? true : undefined),
      30_000,
      'completed after retry',
    );
    const again = await stowage('retry', id);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('is completed; only a failed job can be retried');
  }, 90_000);

  /** Makes `n` iocs.insert jobs fail, then clears the cause. */
  async function failMany(n: number, tag: string): Promise<void> {
    await world.deps.redis.set(broken, '1');
    const before = await failedCount();
    await world.producer.enqueueBulk(
      'iocs.insert',
      Array.from({ length: n }, (_, i) => ({ iocs: [ioc(`${tag}-${i}.example`)] })),
    );
    await eventually(
      async () => ((await failedCount()) === before + n ? true : undefined),
      30_000,
      `${n} failed`,
    );
    await world.deps.redis.del(broken);
  }

  it('retry --all retries every failed job, with plain progress lines when stderr is not a terminal', async () => {
    await failMany(25, 'plain');
    const run = await stowage('retry', '--all', '--queue', 'ingest');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('retried 25 failed jobs on ingest');
    expect(run.stderr).toMatch(/^retry ingest 100% 25\/25$/m);
    expect(run.stderr).not.toContain('\r');
    await drained();
  }, 90_000);

  it('retry --all draws a bar when stderr is a terminal', async () => {
    await failMany(25, 'tty');
    const run = await stowageInTty('retry', '--all', '--queue', 'ingest');
    expect(run.code).toBe(0);
    expect(run.output).toMatch(/\rretry ingest \[#{30}\] 100% 25\/25/);
    expect(run.output).toContain('retried 25 failed jobs on ingest');
    await drained();
  }, 90_000);

  it('pause holds a queue’s jobs, visible in counts, and resume lets them run', async () => {
    type Row = { queue: string; is_paused: boolean; counts: Record<string, number> };
    const ingest = async () =>
      jsonOf<Row[]>(await stowage('counts', '--json')).find((r) => r.queue === 'ingest')!;
    expect((await stowage('pause', 'ingest')).stdout).toBe('ingest paused\n');
    const { id } = await world.producer.enqueue('iocs.insert', { iocs: [ioc('held.example')] });
    const held = await ingest();
    expect(held.is_paused).toBe(true);
    // ingest is a fair queue (FAIR_QUEUES): its queued jobs are prioritized, not plain waiting.
    expect(held.counts).toMatchObject({ waiting: 0, prioritized: 1, paused: 1, failed: 0 });
    const table = await stowage('counts');
    // Columns: waiting, active, delayed, prioritized, waiting-children, completed, failed, paused.
    expect(table.stdout).toMatch(/^ingest\s+paused\s+0\s+\d+\s+\d+\s+1\s+\d+\s+\d+\s+\d+\s+1\s*$/m);
    expect(table.stdout).toMatch(/^cache\s+running\s/m);
    expect(await stateOf(id)).toBe('prioritized');

    expect((await stowage('resume', 'ingest')).stdout).toBe('ingest running\n');
    await eventually(
      async () => ((await stateOf(id)) === 'completed' ? true : undefined),
      30_000,
      'ran after resume',
    );
    const after = await ingest();
    expect(after.is_paused).toBe(false);
    expect(after.counts).toMatchObject({ waiting: 0, prioritized: 0, paused: 0 });
  }, 90_000);

  it('watermarks set moves a watermark forward only, and get shows it', async () => {
    const set = (ts: string, ...more: string[]) =>
      stowage('watermarks', 'set', 'otx', '--timestamp', ts, ...more);
    const unknown = await set('2024-01-01T12:00:00Z');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('add --force to create it');
    expect((await stowage('watermarks', 'get', 'otx')).code).toBe(1);

    expect((await set('2024-01-01T12:00:00Z', '--force')).code).toBe(0);
    const back = await set('2023-06-01T00:00:00Z', '--force');
    expect(back.code).toBe(1);
    expect(back.stderr).toContain('refused');
    expect(back.stderr).toContain('only moves forward');
    const got = jsonOf<{ last_successful_timestamp: string }>(
      await stowage('watermarks', 'get', 'otx', '--json'),
    );
    expect(got.last_successful_timestamp).toBe('2024-01-01T12:00:00Z');

    expect((await set('2024-02-01T00:00:00Z')).code).toBe(0);
    const list = await stowage('watermarks', 'get');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^SOURCE\s+LAST SUCCESS/m);
    expect(list.stdout).toMatch(/^otx\s+2024-02-01T00:00:00Z\s/m);
    const history = await world.deps.watermarks.history('otx');
    // The refused rewind wrote nothing: two commits, both by the CLI.
    expect(history.map((h) => h.outcome)).toEqual(['advanced', 'advanced']);
    expect(history.every((h) => h.job_id?.startsWith('cli.watermarks-set.'))).toBe(true);
  }, 90_000);

  it('run --dry-run prints the report, with progress lines on a pipe and a bar on a terminal', async () => {
    const plain = await stowage('run', 'retention.cleanup', '--dry-run');
    expect(plain.code, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout)).toMatchObject({ dry_run: true });
    expect(plain.stderr).toMatch(/^retention\.cleanup 100%/m);
    expect(plain.stderr).not.toContain('\r');

    const tty = await stowageInTty('run', 'retention.cleanup', '--dry-run');
    expect(tty.code).toBe(0);
    expect(tty.output).toMatch(/\rretention\.cleanup \[#{30}\] 100%/);
    expect(tty.output).toContain('"dry_run": true');
  }, 90_000);

  it('usage errors exit 2 and name the problem', async () => {
    const cases: [string[], RegExp][] = [
      [['status'], /missing <job-id>/],
      [['pause', 'inbox'], /"inbox" is not a queue/],
      [['counts', '--jsn'], /--jsn/],
      [['retry', '--all'], /missing --queue/],
      [['enqueue', 'iocs.insert', '--payload', '{oops'], /--payload is not valid JSON/],
      [['watermarks', 'set', 'otx', '--timestamp', 'yesterday'], /--timestamp "yesterday"/],
      [['run', 'cache.promote', '--dry-run'], /cache\.promote has no dry run/],
      [['frobnicate'], /unknown command "frobnicate"/],
    ];
    const runs = await Promise.all(cases.map(([args]) => stowage(...args)));
    runs.forEach((run, i) => {
      expect(run.code, cases[i]![0].join(' ')).toBe(2);
      expect(run.stderr).toMatch(cases[i]![1]);
    });
    // Eight CLI processes start at once: on a loaded 2-core machine that alone takes minutes.
  }, 240_000);

  it('a backend that does not answer is exit 1 within seconds, naming it', async () => {
    const started = Date.now();
    const p = runCli(['counts'], { ...env, REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    expect(await p.exited).toBe(1);
    expect(p.output()).toContain('Redis (REDIS_URL) did not answer');
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 30_000);
});
