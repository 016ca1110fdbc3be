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
    expect(cfg.SCHEDULE_ARCHIVE).toBeNull();
    expect(cfg.SCHEDULE_CACHE_WARM).toBe('*/10 * * * *');
    expect(() => loadConfig({ SCHEDULE_CACHE_WARM: '99 * * * *' })).toThrow(/SCHEDULE_CACHE_WARM/);
  });

  it('ignores unknown and empty variables', () => {
    expect(loadConfig({ PATH: '/usr/bin', REDIS_URL: '' }).REDIS_URL).toBe(
      'redis://127.0.0.1:6379',
    );
  });
});
