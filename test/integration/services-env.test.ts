// scripts/services.sh and its env file: starting one service rewrites only that service's
// lines. A throwaway Redis of this test's own (temporary state folder, free port), never the
// shared servers.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, freePort } from '../helpers/cli-process.js';
import { parseEnv } from '../helpers/services.js';

const run = promisify(execFile);
const SCRIPT = join(REPO_ROOT, 'scripts', 'services.sh');

describe('scripts/services.sh start <one service>', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stowage-services-'));
    env = {
      ...process.env,
      STOWAGE_STATE_DIR: join(dir, 'state'),
      STOWAGE_ENV_FILE: join(dir, 'services.env'),
      STOWAGE_REDIS_PORT: String(await freePort()),
    };
    // Another run put the other services on ports of its own choosing.
    await writeFile(
      join(dir, 'services.env'),
      [
        'REDIS_URL=redis://127.0.0.1:1',
        'CACHE_REDIS_URL=redis://127.0.0.1:1/1',
        'DATABASE_URL=postgres://postgres@127.0.0.1:25432/stowage',
        'CLICKHOUSE_URL=http://127.0.0.1:28123',
        'CLICKHOUSE_DATABASE=stowage',
        'S3_ENDPOINT=http://127.0.0.1:27480',
        'S3_ACCESS_KEY_ID=other-access',
        'S3_SECRET_ACCESS_KEY=other-secret-key-0123456789',
        'S3_REGION=us-east-1',
        'S3_FORCE_PATH_STYLE=true',
        'ARCHIVE_SSE=aws:kms',
        'ARCHIVE_KMS_KEY_ID=stowage-archive-key',
        '',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await run('bash', [SCRIPT, 'stop', 'redis'], { env }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('with only the Redis port set, rewrites the Redis lines and keeps every other service’s', async () => {
    await run('bash', [SCRIPT, 'start', 'redis'], { env, timeout: 120_000 });
    const written = parseEnv(await readFile(join(dir, 'services.env'), 'utf8'));
    expect(written).toEqual({
      REDIS_URL: `redis://127.0.0.1:${env.STOWAGE_REDIS_PORT}`,
      CACHE_REDIS_URL: `redis://127.0.0.1:${env.STOWAGE_REDIS_PORT}/1`,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:25432/stowage',
      CLICKHOUSE_URL: 'http://127.0.0.1:28123',
      CLICKHOUSE_DATABASE: 'stowage',
      S3_ENDPOINT: 'http://127.0.0.1:27480',
      S3_ACCESS_KEY_ID: 'other-access',
      S3_SECRET_ACCESS_KEY: 'other-secret-key-0123456789',
      S3_REGION: 'us-east-1',
      S3_FORCE_PATH_STYLE: 'true',
      ARCHIVE_SSE: 'aws:kms',
      ARCHIVE_KMS_KEY_ID: 'stowage-archive-key',
    });
  }, 150_000);

  it('fills a missing line of a service it did not start from the defaults', async () => {
    await writeFile(
      join(dir, 'services.env'),
      'DATABASE_URL=postgres://postgres@127.0.0.1:25432/stowage\n',
    );
    await run('bash', [SCRIPT, 'start', 'redis'], { env, timeout: 120_000 });
    const written = parseEnv(await readFile(join(dir, 'services.env'), 'utf8'));
    expect(written.DATABASE_URL).toBe('postgres://postgres@127.0.0.1:25432/stowage');
    expect(written.REDIS_URL).toBe(`redis://127.0.0.1:${env.STOWAGE_REDIS_PORT}`);
    expect(written.S3_ENDPOINT).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  }, 150_000);
});
