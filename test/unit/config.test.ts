import { describe, expect, it } from 'vitest';
import { ConfigError, QUEUE_NAMES, loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('gives working defaults for an empty environment', () => {
    const cfg = loadConfig({});
    expect(cfg.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(cfg.cacheRedisUrl).toBe(cfg.REDIS_URL);
    expect(cfg.workerQueues).toEqual([...QUEUE_NAMES]);
    expect(cfg.HOT_STORE).toBe('postgres');
    expect(cfg.API_KEYS).toEqual([]);
  });

  it('reports every problem at once, each naming its key', () => {
    const attempt = () =>
      loadConfig({
        REDIS_URL: 'http://x',
        API_PORT: '70000',
        HOT_STORE: 'mysql',
        SCHEDULE_RETENTION: 'daily',
      });
    expect(attempt).toThrow(ConfigError);
    const problems = (() => {
      try {
        attempt();
      } catch (e) {
        return (e as ConfigError).problems;
      }
      return [];
    })();
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual([
      'API_PORT',
      'HOT_STORE',
      'REDIS_URL',
      'SCHEDULE_RETENTION',
    ]);
  });

  it('parses API keys with scopes and refuses unknown scopes and short secrets', () => {
    const cfg = loadConfig({
      API_KEYS: 'bot:0123456789abcdef0:ingest+read, ops:fedcba9876543210x:admin',
    });
    expect(cfg.API_KEYS.map((k) => k.name)).toEqual(['bot', 'ops']);
    expect([...cfg.API_KEYS[0]!.scopes]).toEqual(['ingest', 'read']);
    expect(() => loadConfig({ API_KEYS: 'bot:0123456789abcdef0:root' })).toThrow(/unknown scope/);
    expect(() => loadConfig({ API_KEYS: 'bot:short:admin' })).toThrow(/at least 16/);
    expect(() => loadConfig({ API_KEYS: 'bot-without-secret' })).toThrow(/name:secret:scope/);
  });

  it('gives each key a tenant: the fourth field, else its name folded to the tenant alphabet', () => {
    const cfg = loadConfig({
      API_KEYS: 'Bot.One:0123456789abcdef0:ingest, ops:fedcba9876543210x:admin:acme',
    });
    expect(cfg.API_KEYS.map((k) => k.tenant)).toEqual(['bot-one', 'acme']);
    expect(() => loadConfig({ API_KEYS: 'ops:fedcba9876543210x:admin:Acme Corp' })).toThrow(
      /tenant "Acme Corp" must be/,
    );
    expect(() => loadConfig({ API_KEYS: 'ops:fedcba9876543210x:admin:' })).toThrow(
      /name:secret:scope\+scope:tenant/,
    );
  });

  it('never puts a key secret in its error message', () => {
    try {
      loadConfig({ API_KEYS: 'bot:supersecretvalue123:nope' });
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).not.toContain('supersecretvalue123');
    }
  });

  it('parses worker queues and per-queue concurrency', () => {
    const cfg = loadConfig({
      WORKER_QUEUES: 'ingest, cache',
      WORKER_CONCURRENCY: 'ingest=16,cache=2',
    });
    expect(cfg.workerQueues).toEqual(['ingest', 'cache']);
    expect(cfg.WORKER_CONCURRENCY).toEqual({ ingest: 16, cache: 2 });
    expect(() => loadConfig({ WORKER_QUEUES: 'ingest,bogus' })).toThrow(/bogus/);
    expect(() => loadConfig({ WORKER_CONCURRENCY: 'ingest=0' })).toThrow(/1\.\.1000/);
  });

  it('parses per-queue retention of completed jobs, naming the key and queue when wrong', () => {
    expect(loadConfig({}).JOBS_KEEP_COMPLETED).toEqual({});
    expect(loadConfig({ JOBS_KEEP_COMPLETED: 'ingest=1000,cache=0' }).JOBS_KEEP_COMPLETED).toEqual({
      ingest: 1000,
      cache: 0,
    });
    expect(() => loadConfig({ JOBS_KEEP_COMPLETED: 'ingest=-1' })).toThrow(
      /JOBS_KEEP_COMPLETED.*ingest must be 0\.\.1000000/s,
    );
    expect(() => loadConfig({ JOBS_KEEP_COMPLETED: 'bogus=5' })).toThrow(/bogus/);
  });

  it('accepts cron expressions and "off", and refuses anything else', () => {
    const cfg = loadConfig({ SCHEDULE_ARCHIVE: 'off', SCHEDULE_CACHE_WARM: '*/10 * * * *' });
    expect(cfg.schedules['ARCHIVE']).toBeNull();
    expect(cfg.schedules['CACHE_WARM']).toBe('*/10 * * * *');
    expect(() => loadConfig({ SCHEDULE_CACHE_WARM: '99 * * * *' })).toThrow(/SCHEDULE_CACHE_WARM/);
  });

  it('ignores unknown and empty variables', () => {
    expect(loadConfig({ PATH: '/usr/bin', REDIS_URL: '' }).REDIS_URL).toBe(
      'redis://127.0.0.1:6379',
    );
  });

  it('binds the api and dashboard to 127.0.0.1 unless API_HOST says otherwise', () => {
    expect(loadConfig({}).API_HOST).toBe('127.0.0.1');
    expect(loadConfig({ API_HOST: '0.0.0.0' }).API_HOST).toBe('0.0.0.0');
  });

  it('refuses the same secret listed twice, in any mode, naming both keys and not the secret', () => {
    const secret = 'Zq7-duplicated-secret-Xy9w';
    const problems = problemsOf({
      API_KEYS: `reader:${secret}:read,boss:${secret}:admin`,
    });
    expect(problems).toEqual([
      'API_KEYS: key "boss" has the same secret as key "reader"; each key needs its own',
    ]);
    expect(problems.join('\n')).not.toContain(secret);
  });
});

/** loadConfig's problems, or [] when it accepts the environment. */
function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}

describe('loadConfig in production (NODE_ENV=production)', () => {
  const strong = 'a3F9-kQ2x-Lm7Z-pW4r-Tt8Y-vB1n';
  const prod = (apiKeys: string, extra: Record<string, string> = {}) =>
    problemsOf({ NODE_ENV: 'production', API_KEYS: apiKeys, ...extra });

  it('accepts long, varied secrets', () => {
    expect(prod(`ops:${strong}:admin`)).toEqual([]);
    // what `stowage up` generates: 24 random bytes in hex
    expect(prod('ops:5f0e8c2a9b7d41c3e6a8f0b2d4c6e8a1b3d5f7092c4e6a8b:admin')).toEqual([]);
  });

  it.each([
    [
      'the compose placeholder',
      'change-me-local-admin-key',
      'is a placeholder from the shipped examples (CHANGE-ME)',
    ],
    [
      'the k8s placeholder',
      'CHANGE-ME-admin-key-0000',
      'is a placeholder from the shipped examples (CHANGE-ME)',
    ],
    ['16 spaces', ' '.repeat(16), 'contains whitespace or control characters'],
    ['a terminal escape', `\u001b]0;x\u0007${strong}`, 'contains whitespace or control characters'],
    ['16 times the same letter', 'a'.repeat(16), 'is shorter than 24 characters'],
    [
      '40 times the same letter',
      'a'.repeat(40),
      'has fewer than 8 distinct characters (low entropy)',
    ],
    ['a short secret', 'Zq7-Xy9w-Lm4k-Pa8sT', 'is shorter than 24 characters'],
    [
      'two letters repeated',
      'abababababababababababababab',
      'has fewer than 8 distinct characters (low entropy)',
    ],
  ])('refuses %s in one line naming the key, never the secret', (_what, secret, reason) => {
    const problems = prod(`collector:${strong}:ingest,weak-one:${secret}:admin`);
    expect(problems).toEqual([`API_KEYS: key "weak-one" secret ${reason} (NODE_ENV=production)`]);
    expect(problems[0]).not.toContain('\n');
    if (secret.trim() !== '') expect(problems.join('')).not.toContain(secret);
  });

  it('refuses the same secret twice with different scopes', () => {
    expect(prod(`reader:${strong}:read,boss:${strong}:admin`)).toEqual([
      'API_KEYS: key "boss" has the same secret as key "reader"; each key needs its own',
    ]);
  });

  it('lists every weak key at once', () => {
    expect(
      prod('a:CHANGE-ME-admin-key-0000:admin,b:CHANGE-ME-collector-key-0000:ingest'),
    ).toHaveLength(2);
  });

  it('refuses placeholder credentials (deploy/k8s/secret.yaml) by key name', () => {
    const problems = prod(`ops:${strong}:admin`, {
      REDIS_URL: 'redis://:CHANGE-ME-redis-password@redis:6379',
      S3_SECRET_ACCESS_KEY: 'CHANGE-ME-s3-secret-key',
    });
    expect(problems).toEqual([
      'REDIS_URL: holds a placeholder from the shipped examples (CHANGE-ME) (NODE_ENV=production)',
      'S3_SECRET_ACCESS_KEY: holds a placeholder from the shipped examples (CHANGE-ME) (NODE_ENV=production)',
    ]);
  });

  it('leaves development and test as they were: placeholders and 16-character secrets load', () => {
    expect(problemsOf({ API_KEYS: 'local:change-me-local-admin-key:admin' })).toEqual([]);
    expect(problemsOf({ NODE_ENV: 'test', API_KEYS: `dev:${'a'.repeat(16)}:admin` })).toEqual([]);
  });
});
