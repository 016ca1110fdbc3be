#!/usr/bin/env node
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createRoot } from './composition/root.js';
import { createLogger } from './log.js';
import { logCrashes, type RunningProcess } from './running-process.js';
import { USAGE } from './cli/usage.js';
import { EXIT } from './cli/exit-codes.js';
import { StartupRefusedError } from './errors/index.js';
import { SCHEMA_VERSION } from './stores/postgres/schema-version.js';
import {
  applyArchiveTransition,
  describeArchiveTransition,
} from './stores/s3/archive-lifecycle.js';

/** The repository (or installed package) root: where package.json and scripts/ live. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the stowage package root');
    dir = parent;
  }
  return dir;
}

function config(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/** Runs a process until SIGTERM/SIGINT, then stops it gracefully and exits 0. */
async function serve(
  name: string,
  start: () => Promise<RunningProcess> | RunningProcess,
  cfg: Config,
): Promise<void> {
  const log = createLogger(cfg);
  logCrashes(log);
  // Handlers go in before start: a signal during start-up still gets a graceful stop.
  const starting = Promise.resolve().then(start);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    starting
      .then((running) => running.stop())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await starting;
  } catch (err) {
    // A refusal (no schema, unsafe production setting) is one line for the operator,
    // not a stack trace.
    if (err instanceof StartupRefusedError) {
      process.stderr.write(`stowage ${name}: ${err.message}\n`);
      process.exit(EXIT.refused);
    }
    throw err;
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'api': {
      const cfg = config();
      const { startApi } = await import('./api/server.js');
      await serve('api', () => startApi(cfg, createLogger(cfg, { process: 'api' })), cfg);
      return;
    }
    case 'worker': {
      const { values } = parseArgs({ args: rest, options: { queues: { type: 'string' } } });
      const cfg = config(
        values.queues ? { ...process.env, WORKER_QUEUES: values.queues } : process.env,
      );
      const { startWorker } = await import('../workers/worker-process.js');
      await serve('worker', () => startWorker(cfg, createLogger(cfg, { process: 'worker' })), cfg);
      return;
    }
    case 'scheduler': {
      const cfg = config();
      const { startScheduler } = await import('../workers/scheduler-process.js');
      await serve(
        'scheduler',
        () => startScheduler(cfg, createLogger(cfg, { process: 'scheduler' })),
        cfg,
      );
      return;
    }
    case 'dashboard': {
      const cfg = config();
      const { startDashboard } = await import('../dashboard/server.js');
      await serve(
        'dashboard',
        () => startDashboard(cfg, createLogger(cfg, { process: 'dashboard' })),
        cfg,
      );
      return;
    }
    case 'init': {
      let initFlags: { 'verify-only'?: boolean };
      try {
        ({ values: initFlags } = parseArgs({
          args: rest,
          options: { 'verify-only': { type: 'boolean' } },
        }));
      } catch (err) {
        process.stderr.write(`stowage init: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(EXIT.usage);
        return;
      }
      const cfg = config();
      const deps = createRoot(cfg, createLogger(cfg, { process: 'init' }), { role: 'init' });
      if (initFlags['verify-only']) {
        // Reads only: what init would create or change; non-zero when anything is left to do.
        const { verifyInit, initComplete, formatInitCheck } =
          await import('./composition/init-verify.js');
        const checks = await verifyInit(deps);
        for (const check of checks) process.stdout.write(`${formatInitCheck(check)}\n`);
        await deps.close();
        process.exit(initComplete(checks) ? EXIT.ok : EXIT.failure);
        return;
      }
      const results = await deps.checkBackends(10_000);
      for (const r of results) {
        process.stdout.write(
          `${r.ok ? 'ok  ' : 'DOWN'} ${r.name}${r.error ? `: ${r.error}` : ''}\n`,
        );
      }
      let ok = results.every((r) => r.ok);
      if (ok) {
        try {
          await deps.initStores();
          process.stdout.write(
            `ok   schemas (hot store, watermarks, staged batches, archive ledger) at schema version ${SCHEMA_VERSION}, and artifact buckets\n`,
          );
          if (cfg.ARCHIVE_ENABLED) {
            // Only here, not at every start: a bucket without Object Lock must fail
            // archive.lock alone, not stop every api and worker.
            await deps.wormArchive.ensureBucket();
            process.stdout.write(`ok   archive bucket ${cfg.ARCHIVE_BUCKET} (Object Lock)\n`);
            process.stdout.write(
              `${describeArchiveTransition(
                cfg.ARCHIVE_BUCKET,
                { days: cfg.ARCHIVE_TRANSITION_DAYS, storageClass: cfg.ARCHIVE_STORAGE_CLASS },
                await applyArchiveTransition(deps.s3, cfg.ARCHIVE_BUCKET, {
                  days: cfg.ARCHIVE_TRANSITION_DAYS,
                  storageClass: cfg.ARCHIVE_STORAGE_CLASS,
                }),
              )}\n`,
            );
          }
        } catch (err) {
          ok = false;
          process.stdout.write(
            `FAIL schemas: ${err instanceof Error ? err.message : String(err)}\n`,
          );
        }
      }
      await deps.close();
      process.exit(ok ? 0 : 1);
      return;
    }
    case 'enqueue':
    case 'status':
    case 'retry':
    case 'pause':
    case 'resume':
    case 'counts':
    case 'watermarks':
    case 'config':
    case 'run':
    case 'schedules':
    case 'iocs':
    case 'activities':
    case 'detections':
    case 'artifacts':
    case 'jobs': {
      const { runOperatorCommand } = await import('./cli/operator.js');
      process.exit(await runOperatorCommand(command, rest, () => config()));
      return;
    }
    case 'up':
      up();
      return;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
      return;
    default:
      process.stderr.write(`unknown command "${command}"\n\n${USAGE}\n`);
      process.exit(2);
  }
}

/** Parses the KEY=VALUE lines written by scripts/services.sh. */
function readEnvFile(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^(?:export\s+)?([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m?.[1]) env[m[1]] = (m[2] ?? '').replace(/^(['"])(.*)\1$/, '$2');
  }
  return env;
}

/** Starts local services and api, worker, scheduler and dashboard as child processes. */
function up(): void {
  const root = packageRoot();
  const script = (name: string, ...args: string[]) => {
    const r = spawnSync('bash', [join(root, 'scripts', name), ...args], { stdio: 'inherit' });
    if (r.status !== 0) {
      process.stderr.write(`scripts/${name} ${args.join(' ')} failed (exit ${r.status})\n`);
      process.exit(1);
    }
  };
  script('install-deps.sh');
  script('services.sh', 'start');

  const stateDir = join(root, '.stowage');
  mkdirSync(stateDir, { recursive: true });
  const keyFile = join(stateDir, 'local-api-key');
  if (!existsSync(keyFile))
    writeFileSync(keyFile, randomBytes(24).toString('hex'), { mode: 0o600 });
  const localKey = readFileSync(keyFile, 'utf8').trim();

  const env: NodeJS.ProcessEnv = {
    // Where scripts/services.sh wrote the servers' addresses (it honours STOWAGE_ENV_FILE).
    ...readEnvFile(process.env.STOWAGE_ENV_FILE ?? join(stateDir, 'services.env')),
    LOG_PRETTY: 'true',
    ...process.env,
  };
  env.API_KEYS ??= `local-admin:${localKey}:admin`;
  const cfg = config(env);

  const self = fileURLToPath(import.meta.url);
  // Schemas, buckets and the Object Lock archive bucket, before any process needs them.
  const init = spawnSync(process.execPath, [...process.execArgv, self, 'init'], {
    env,
    stdio: 'inherit',
  });
  if (init.status !== 0) {
    process.stderr.write('stowage init failed; see above\n');
    process.exit(1);
  }
  const children: ChildProcess[] = (['api', 'worker', 'scheduler', 'dashboard'] as const).map(
    (name) => spawn(process.execPath, [...process.execArgv, self, name], { env, stdio: 'inherit' }),
  );
  const api = cfg.publicUrl;
  process.stdout.write(
    [
      '',
      'Stowage is starting on local services:',
      `  API        ${api}          (try: curl ${api}/ready)`,
      `  dashboard  ${api}${cfg.DASHBOARD_PATH}   (user: anything, password: the key below)`,
      `  standalone dashboard http://localhost:${cfg.DASHBOARD_PORT}${cfg.DASHBOARD_PATH}`,
      `  API key    ${env.API_KEYS === `local-admin:${localKey}:admin` ? localKey : '(from your API_KEYS)'}`,
      `             curl -H "Authorization: Bearer <key>" ${api}/v1/jobs/<id>`,
      'Ctrl-C stops every process; `npm run services:stop` stops the local servers.',
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stopAll = () => {
    if (stopping) return;
    stopping = true;
    for (const child of children) child.kill('SIGTERM');
  };
  process.on('SIGINT', stopAll);
  process.on('SIGTERM', stopAll);
  let exited = 0;
  for (const child of children) {
    child.on('exit', (code) => {
      exited += 1;
      if (!stopping && code !== 0) {
        process.stderr.write(`a stowage process exited with ${code}; stopping the others\n`);
        stopAll();
      }
      if (exited === children.length) process.exit(0);
    });
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
