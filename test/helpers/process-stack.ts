// The api and one worker as whole `stowage` processes (as the e2e tests run them), in their
// own queue prefix, schema, ClickHouse database and buckets, with a careful HTTP client in
// front: what a backend-outage test needs to break a service under them and then check
// that neither process died and every acknowledged request's work reached its sink.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job, Queue } from 'bullmq';
import { loadConfig, QUEUE_NAMES, type Config, type QueueName } from '../../src/config.js';
import { createRoot, type Root } from '../../src/composition/root.js';
import { createLogger } from '../../src/log.js';
import { freePort, runCli, type CliProcess } from './cli-process.js';
import { serviceEnv } from './services.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One `stowage` process and every exit it made that the stack did not ask for. */
export interface StackProcess {
  readonly name: string;
  readonly cli: CliProcess;
  /** Exits before stop(): a crash, whatever restarted it afterwards. */
  readonly exits: string[];
}

/** What one request took to be acknowledged. */
export interface Sent {
  status: number;
  body: unknown;
  /** Answers before the final one: 503s and connection errors while a backend was away. */
  refused: number;
}

/** The api and a worker over their own namespace; `close()` stops them and drops the namespace. */
export class ProcessStack {
  readonly id = `o${randomBytes(4).toString('hex')}`;
  readonly secret = `outage-admin-${randomBytes(12).toString('hex')}`;
  readonly env: Record<string, string>;
  readonly config: Config;
  /** The test's own clients (queues, stores) to read the sinks with. */
  readonly deps: Root;
  readonly queues: Record<QueueName, Queue>;
  readonly processes: StackProcess[] = [];
  base = '';
  private stopping = false;

  private constructor(
    readonly hotStore: 'postgres' | 'clickhouse',
    private readonly spoolDir: string,
    extraEnv: Record<string, string>,
  ) {
    const id = this.id;
    this.env = {
      ...serviceEnv(),
      QUEUE_PREFIX: `outage-${id}`,
      DATABASE_SCHEMA: `outage_${id}`,
      CLICKHOUSE_DATABASE: `outage_${id}`,
      HOT_STORE: hotStore,
      API_KEYS: `outage:${this.secret}:admin`,
      SPOOL_DIR: spoolDir,
      ARTIFACT_BUCKET_SAMPLES: `${id}-samples`,
      ARTIFACT_BUCKET_TA_BUNDLES: `${id}-tas`,
      ARTIFACT_BUCKET_DEBUG_BUNDLES: `${id}-debug`,
      ARCHIVE_ENABLED: 'true',
      ARCHIVE_BUCKET: `${id}-archive`,
      ARCHIVE_LOCK_MODE: 'GOVERNANCE',
      ARCHIVE_RETENTION_YEARS: '1',
      HOT_RETENTION_DAYS: '30',
      SHUTDOWN_GRACE_MS: '2000',
      LOG_LEVEL: 'info',
      LOG_PRETTY: 'false',
      ...extraEnv,
    };
    this.config = loadConfig({ ...process.env, ...this.env });
    this.deps = createRoot(this.config, createLogger({ ...this.config, LOG_LEVEL: 'silent' }), {
      role: 'api',
      waitForRedis: true,
    });
    this.queues = Object.fromEntries(
      QUEUE_NAMES.map((name) => [
        name,
        // The test's own clients live through the outages too: an 'error' listener each.
        new Queue(name, { connection: this.deps.redis, prefix: this.config.QUEUE_PREFIX }).on(
          'error',
          () => undefined,
        ),
      ]),
    ) as Record<QueueName, Queue>;
  }

  /** Runs `stowage init`, then starts the api and one worker serving every queue. */
  static async start(
    hotStore: 'postgres' | 'clickhouse',
    extraEnv: Record<string, string> = {},
  ): Promise<ProcessStack> {
    const spool = await mkdtemp(join(tmpdir(), 'stowage-outage-'));
    const stack = new ProcessStack(hotStore, spool, extraEnv);
    try {
      const init = runCli(['init'], stack.env);
      const code = await withDeadline(init.exited, 60_000, 'stowage init').catch((err: unknown) => {
        init.child.kill('SIGKILL');
        throw err;
      });
      if (code !== 0) throw new Error(`stowage init exited ${code}:\n${init.output()}`);
      const port = await freePort();
      stack.base = `http://127.0.0.1:${port}`;
      const api = stack.spawn('api', ['api'], {
        API_PORT: String(port),
        API_HOST: '127.0.0.1',
      });
      const worker = stack.spawn('worker', ['worker'], {});
      await Promise.all([
        stack.waitFor(api, 'api listening', 60_000),
        stack.waitFor(worker, 'worker started', 60_000),
      ]);
    } catch (err) {
      await stack.close();
      throw err;
    }
    return stack;
  }

  private spawn(name: string, args: string[], env: Record<string, string>): StackProcess {
    const cli = runCli(args, { ...this.env, ...env });
    const proc: StackProcess = { name, cli, exits: [] };
    cli.child.on('exit', (code, signal) => {
      if (this.stopping) return;
      const fatal = cli
        .output()
        .split('\n')
        .filter((l) => l.includes('"level":60'))
        .pop();
      proc.exits.push(
        `${name} exited (code ${code}, signal ${signal}): ${fatal ?? cli.output().slice(-2_000)}`,
      );
    });
    this.processes.push(proc);
    return proc;
  }

  private async waitFor(proc: StackProcess, line: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!proc.cli.output().includes(line)) {
      if (proc.exits.length > 0) throw new Error(proc.exits.join('\n'));
      if (Date.now() > deadline) {
        throw new Error(
          `${proc.name} did not print "${line}" within ${timeoutMs} ms:\n${proc.cli.output()}`,
        );
      }
      await sleep(50);
    }
  }

  /** Exits so far that nobody asked for, and whether each process is still running. */
  crashes(): string[] {
    return this.processes.flatMap((p) =>
      p.cli.child.exitCode === null && p.cli.child.signalCode === null && p.exits.length === 0
        ? []
        : p.exits.length > 0
          ? p.exits
          : [`${p.name} is not running`],
    );
  }

  /** Lines a process logged that contain `text`. */
  logLines(name: string, text: string): string[] {
    const proc = this.processes.find((p) => p.name === name);
    return (proc?.cli.output() ?? '').split('\n').filter((l) => l.includes(text));
  }

  /**
   * One request, repeated like a careful client until it gets a 2xx: 503s and connection
   * errors (a backend away) are retried with the same body and Idempotency-Key, within
   * `deadlineMs`; any other status is returned as it is.
   */
  async send(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string> = {},
    deadlineMs = 60_000,
  ): Promise<Sent> {
    const deadline = Date.now() + deadlineMs;
    let refused = 0;
    let delay = 100;
    for (;;) {
      let status = 0;
      try {
        const res = await fetch(`${this.base}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${this.secret}`,
            'content-type': 'application/json',
            ...headers,
          },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(15_000),
        });
        status = res.status;
        const text = await res.text();
        if (status !== 503)
          return { status, body: text ? (JSON.parse(text) as unknown) : null, refused };
      } catch {
        // The connection failed or timed out: retried like a 503.
      }
      refused++;
      // A dead process answers nothing: say why at once instead of waiting out the deadline.
      const crashes = this.crashes();
      if (crashes.length > 0) throw new Error(`${method} ${path}: ${crashes.join('\n')}`);
      if (Date.now() > deadline) {
        throw new Error(`${method} ${path}: not answered within ${deadlineMs} ms (last ${status})`);
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 1_000);
    }
  }

  /** POST /v1/ingest/iocs; the ids of the jobs behind its 202 (the watermark commit and each chunk). */
  async ingest(
    request: { key: string; source_id: string; iocs: unknown[]; watermark: unknown },
    deadlineMs?: number,
  ): Promise<{ sent: Sent; jobs: { id: string; queue: QueueName }[] }> {
    const sent = await this.send(
      'POST',
      '/v1/ingest/iocs',
      { source_id: request.source_id, iocs: request.iocs, watermark: request.watermark },
      { 'idempotency-key': request.key },
      deadlineMs,
    );
    if (sent.status !== 202)
      throw new Error(`ingest ${request.key}: ${sent.status} ${JSON.stringify(sent.body)}`);
    // The answer names every job: ids derive from the caller, route, key and request digest.
    const answer = sent.body as { id: string; chunks: number; children: string[] };
    if (answer.children.length !== answer.chunks)
      throw new Error(
        `ingest ${request.key}: ${answer.chunks} chunks, children ${answer.children.join(',')}`,
      );
    const jobs = [answer.id, ...answer.children].map((id) => ({ id, queue: 'ingest' as const }));
    return { sent, jobs };
  }

  /** POST /v1/maintenance/{name}; the job behind its 202. */
  async maintenance(name: string, payload: object): Promise<{ id: string; queue: QueueName }> {
    const sent = await this.send('POST', `/v1/maintenance/${name}`, payload);
    if (sent.status !== 202)
      throw new Error(`maintenance ${name}: ${sent.status} ${JSON.stringify(sent.body)}`);
    return sent.body as { id: string; queue: QueueName };
  }

  /**
   * Waits until every job completed, within timeoutMs; throws naming the jobs that did not
   * (their state and last error). Returns the attempts beyond the first, summed.
   */
  async waitCompleted(
    jobs: readonly { id: string; queue: QueueName }[],
    timeoutMs: number,
  ): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(
        jobs.map(async ({ id, queue }) => {
          const job = await Job.fromId(this.queues[queue], id);
          return { id, job, state: job ? await job.getState() : 'missing' };
        }),
      ).catch(() => undefined);
      if (states?.every((s) => s.state === 'completed')) {
        return states.reduce((n, s) => n + Math.max(0, (s.job?.attemptsMade ?? 1) - 1), 0);
      }
      const crashes = this.crashes();
      if (crashes.length > 0) throw new Error(`waiting for jobs: ${crashes.join('\n')}`);
      if (Date.now() > deadline) {
        const left = (states ?? []).filter((s) => s.state !== 'completed');
        throw new Error(
          `jobs not completed within ${timeoutMs} ms: ${left
            .slice(0, 5)
            .map((s) => `${s.id} ${s.state} ${s.job?.failedReason ?? ''}`)
            .join('; ')}`,
        );
      }
      await sleep(250);
    }
  }

  /** Stops the processes (SIGTERM, then SIGKILL), drops the namespace, closes the clients. */
  async close(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.processes.map(async ({ cli }) => {
        if (cli.child.exitCode !== null || cli.child.signalCode !== null) return;
        const timer = setTimeout(() => cli.child.kill('SIGKILL'), 15_000);
        cli.child.kill('SIGTERM');
        await cli.exited;
        clearTimeout(timer);
      }),
    );
    await Promise.all(
      Object.values(this.queues).map((q) => q.obliterate({ force: true }).catch(() => undefined)),
    );
    await Promise.all(Object.values(this.queues).map((q) => q.close().catch(() => undefined)));
    await this.deps.pg
      .query(`DROP SCHEMA IF EXISTS "${this.config.DATABASE_SCHEMA}" CASCADE`)
      .catch(() => undefined);
    if (this.hotStore === 'clickhouse') {
      await this.deps.clickhouse
        .command({ query: `DROP DATABASE IF EXISTS ${this.config.CLICKHOUSE_DATABASE}` })
        .catch(() => undefined);
    }
    await this.deps.close().catch(() => undefined);
    await rm(this.spoolDir, { recursive: true, force: true });
  }
}

/** Rejects when the promise has not settled within ms. */
async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} not done within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
