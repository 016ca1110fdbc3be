// The local services and whole `stowage` processes a scenario runs against, each run in a
// queue prefix, schema and database of its own, removed afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, REPO_ROOT, freePort } from '../../test/helpers/cli-process.js';
import { serviceEnv } from '../../test/helpers/services.js';

/** An isolated configuration: services' URLs, a fresh prefix/schema/database and an admin key. */
export interface BenchStack {
  env: Record<string, string>;
  /** Set once `stowage init` created the stack's schema and buckets (processes refuse to start before). */
  initialized?: Promise<void>;
  key: string;
  suffix: string;
  dir: string;
}

/** A configuration of its own for one scenario run (nothing shared with another run). */
export function benchStack(overrides: Record<string, string> = {}): BenchStack {
  const suffix = randomBytes(4).toString('hex');
  const key = randomBytes(24).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'stowage-bench-'));
  const env: Record<string, string> = {
    ...filtered(process.env),
    ...serviceEnv(),
    QUEUE_PREFIX: `bench${suffix}`,
    DATABASE_SCHEMA: `bench_${suffix}`,
    CLICKHOUSE_DATABASE: `bench_${suffix}`,
    API_KEYS: `bench:${key}:admin`,
    SPOOL_DIR: join(dir, 'spool'),
    LOG_LEVEL: 'info',
    // Several workers run on one machine: each takes a free port for its /metrics.
    WORKER_METRICS_PORT: '0',
    ...overrides,
  };
  return { env, key, suffix, dir };
}

function filtered(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined),
  );
}

/** Every process a benchmark started and has not stopped: killed if the benchmark dies. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A running `stowage <command>` whose output goes to a log file (shown if it dies). */
export class StowageProcess {
  private constructor(
    readonly child: ChildProcess,
    readonly logFile: string,
    readonly exited: Promise<number | null>,
  ) {}

  get pid(): number {
    return this.child.pid!;
  }

  /** Starts `stowage <args>` from source with the stack's environment. */
  static start(
    stack: BenchStack,
    args: string[],
    env: Record<string, string> = {},
  ): StowageProcess {
    return StowageProcess.spawn(stack, [...CLI, ...args], args.join('-'), env);
  }

  /** Starts a baseline's script (path from the repository root) under tsx, as `stowage`. */
  static script(stack: BenchStack, file: string, env: Record<string, string> = {}): StowageProcess {
    return StowageProcess.spawn(stack, ['--import', 'tsx', file], file, env);
  }

  private static spawn(
    stack: BenchStack,
    argv: string[],
    name: string,
    env: Record<string, string>,
  ): StowageProcess {
    const logFile = join(
      stack.dir,
      `${name.replace(/[^a-z0-9-]/gi, '')}-${randomBytes(3).toString('hex')}.log`,
    );
    // BENCH_NODE_ARGS profiles the processes, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    const nodeArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    const child = spawn(process.execPath, [...nodeArgs, ...argv], {
      cwd: REPO_ROOT,
      env: { ...stack.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const log = createWriteStream(logFile);
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    child.on('close', () => log.end());
    running.add(child);
    child.on('exit', () => running.delete(child));
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    return new StowageProcess(child, logFile, exited);
  }

  /** Runs `stowage init` once per stack: a process start checks the schema and does no DDL. */
  static init(stack: BenchStack): Promise<void> {
    stack.initialized ??= (async () => {
      const proc = StowageProcess.start(stack, ['init']);
      const code = await proc.exited;
      if (code !== 0) {
        throw new Error(`stowage init exited (${code}):\n${readFileSync(proc.logFile, 'utf8')}`);
      }
    })();
    return stack.initialized;
  }

  /** Starts the api on a free port and resolves with its base URL once /health answers. */
  static async api(stack: BenchStack, env: Record<string, string> = {}) {
    await StowageProcess.init(stack);
    const port = await freePort();
    const proc = StowageProcess.start(stack, ['api'], { API_PORT: String(port), ...env });
    const base = `http://127.0.0.1:${port}`;
    await proc.until(async () => ((await fetch(`${base}/health`)).ok ? true : undefined), 'api');
    return { proc, base };
  }

  /** Starts a worker on the given queues, ready once it logged "worker started". */
  static async worker(stack: BenchStack, queues: string[], env: Record<string, string> = {}) {
    await StowageProcess.init(stack);
    const proc = StowageProcess.start(stack, ['worker', '--queues', queues.join(',')], env);
    await proc.until(
      () =>
        readFile(proc.logFile, 'utf8').then((log) =>
          log.includes('worker started') ? true : undefined,
        ),
      'worker',
    );
    return proc;
  }

  /** Waits for check, failing early (with the tail of the process's log) if it exits. */
  async until<T>(check: () => Promise<T | undefined>, what: string, ms = 60_000): Promise<T> {
    const deadline = Date.now() + ms;
    const tail = () => readFileSync(this.logFile, 'utf8').slice(-3000);
    for (;;) {
      if (this.child.exitCode !== null || this.child.signalCode !== null)
        throw new Error(
          `${what} exited (${this.child.exitCode ?? this.child.signalCode}):\n${tail()}`,
        );
      const value = await check().catch(() => undefined);
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`${what}: not ready within ${ms} ms:\n${tail()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGTERM, then waits for the exit (SIGKILL after 15 s). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(timer);
  }
}
