// Whole `stowage` processes for e2e tests: the real CLI under tsx, output captured.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The repository root: the CLI runs from there, whatever the test's working directory. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** How to run the CLI from source. */
export const CLI = ['--import', 'tsx', 'src/cli.ts'];

/** A free local TCP port. */
export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A started `stowage <command>`: the child, everything it printed so far, and its exit code. */
export interface CliProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Environment every spawned test process starts from: workers' metrics on a free port each. */
export const TEST_PROCESS_ENV = { WORKER_METRICS_PORT: '0' };

/** Starts `stowage <args>` with the test's environment plus `env`. */
export function runCli(args: readonly string[], env: Record<string, string>): CliProcess {
  const child = spawn(process.execPath, [...CLI, ...args], {
    cwd: REPO_ROOT,
    env: { ...TEST_PROCESS_ENV, ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}
