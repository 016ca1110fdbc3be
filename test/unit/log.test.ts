import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS, loadConfig } from '../../src/config.js';
import { SECRET_CONFIG_KEYS, createLogger } from '../../src/log.js';

const SECRETS = {
  API_KEYS: 'ops:s3cr3t-api-key-0123456789:admin',
  REDIS_URL: 'redis://:redis-pass-123@redis.internal:6379',
  CACHE_REDIS_URL: 'redis://:cache-pass-456@cache.internal:6379',
  DATABASE_URL: 'postgres://stowage:pg-pass-789@db.internal:5432/stowage',
  CLICKHOUSE_URL: 'http://ch-user:ch-url-pass@ch.internal:8123',
  CLICKHOUSE_PASSWORD: 'ch-pass-abc',
  S3_ACCESS_KEY_ID: 'AKIAEXAMPLEKEYID',
  S3_SECRET_ACCESS_KEY: 's3-secret-def',
};
const VISIBLE = [
  's3cr3t-api-key',
  'redis-pass',
  'cache-pass',
  'pg-pass',
  'ch-url-pass',
  'ch-pass-abc',
  'AKIAEXAMPLEKEYID',
  's3-secret-def',
];

function capture() {
  const lines: string[] = [];
  const log = createLogger(
    { LOG_LEVEL: 'info', LOG_PRETTY: false },
    { process: 'test' },
    {
      write: (line: string) => void lines.push(line),
    },
  );
  return { log, lines };
}

describe('log', () => {
  it('redacts every credential of the configuration when a line carries it', () => {
    const { log, lines } = capture();
    log.info({ config: loadConfig(SECRETS) }, 'configuration');
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    for (const secret of VISIBLE) expect(line, secret).not.toContain(secret);
    const config = (JSON.parse(line) as { config: Record<string, unknown> }).config;
    for (const key of SECRET_CONFIG_KEYS) expect(config[key], key).toBe('[redacted]');
    expect(config['QUEUE_PREFIX']).toBe('stowage');
  });

  it('knows every configuration key that is or may carry a credential', () => {
    const looksSecret = CONFIG_KEYS.filter(
      // The public URLs (API_PUBLIC_URL, DASHBOARD_PUBLIC_URL) are what browsers are sent to.
      (k) => /PASSWORD|SECRET|ACCESS_KEY|API_KEYS|_URL$/.test(k) && !/_PUBLIC_URL$/.test(k),
    );
    expect(
      looksSecret.filter((k) => !(SECRET_CONFIG_KEYS as readonly string[]).includes(k)),
    ).toEqual([]);
  });

  it('redacts authorization headers and secret fields anywhere one level down', () => {
    const { log, lines } = capture();
    log.info(
      {
        req: { headers: { authorization: 'Bearer abc-123' } },
        key: { secret: 'k-456' },
        db: { password: 'p-789' },
      },
      'request',
    );
    for (const secret of ['abc-123', 'k-456', 'p-789'])
      expect(lines[0], secret).not.toContain(secret);
  });
});
