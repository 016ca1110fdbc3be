// Drives scripts/services.sh, which starts real throwaway Redis, PostgreSQL, ClickHouse
// and S3 (Ceph RGW) servers on non-default local ports. See that script for details.
import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** A service scripts/services.sh knows; `s3-gateway` is radosgw alone (an outage that keeps objects). */
export type ServiceName = 'redis' | 'postgres' | 'clickhouse' | 's3' | 's3-gateway';

const SCRIPT = fileURLToPath(new URL('../../scripts/services.sh', import.meta.url));

// Generous: a cold start of all four takes a few seconds, but the script's own bounded
// waits (60 s each; Ceph has a few in a row) must time out first so their logs get printed.
const TIMEOUT_MS = 10 * 60_000;

function run(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'bash',
      [SCRIPT, ...args],
      { timeout: TIMEOUT_MS, maxBuffer: 1024 * 1024, encoding: 'utf8' },
      (error, stdout) => {
        if (error) {
          reject(new Error(`scripts/services.sh ${args.join(' ')} failed: ${error.message}`));
        } else {
          resolve(stdout);
        }
      },
    );
    // Inherit stderr: progress lines, and on failure the tail of the server's logs, show
    // up in the test output as they happen instead of being buffered into an error.
    child.stderr?.pipe(process.stderr);
  });
}

/** Starts (or reuses) the given services, all four by default, and waits until they answer. */
export async function startServices(names: readonly ServiceName[] = []): Promise<void> {
  await run(['start', ...names]);
}

/** Stops one service by PID (`s3-gateway` stops radosgw only, keeping the objects). */
export async function stopService(name: ServiceName): Promise<void> {
  await run(['stop', name]);
}

/** Stops then starts one service, keeping its data (`s3` bounces only radosgw). */
export async function restartService(name: ServiceName): Promise<void> {
  await run(['restart', name]);
}

/** Configuration for the local servers (REDIS_URL, DATABASE_URL, S3_ENDPOINT, ...), from `services.sh env`. */
export function serviceEnv(): Record<string, string> {
  // Synchronous on purpose: `env` only prints, it never waits for a server.
  const stdout = execFileSync('bash', [SCRIPT, 'env'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 30_000,
  });
  return parseEnv(stdout);
}

/** Parses KEY=value lines as `services.sh env` prints them (values optionally single-quoted). */
export function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (!match) continue;
    const [, key, raw] = match as unknown as [string, string, string];
    env[key] =
      raw.startsWith("'") && raw.endsWith("'") && raw.length >= 2
        ? raw.slice(1, -1).replaceAll("'\\''", "'")
        : raw;
  }
  return env;
}
