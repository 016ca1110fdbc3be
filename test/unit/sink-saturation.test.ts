import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { SaturationError, TransientError } from '../../src/errors/index.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import { loadConfig } from '../../src/config.js';
import { classifyClickHouseError } from '../../src/stores/clickhouse/classify-clickhouse-error.js';
import { classifyPostgresError } from '../../src/stores/postgres/classify-postgres-error.js';
import { classifyRedisError } from '../../src/stores/redis/classify-redis-error.js';
import { classifyS3Error } from '../../src/stores/s3/classify-s3-error.js';
import { SinkThrottle } from '../../workers/sink-throttle.js';

const s3Error = (code: string, status: number) =>
  Object.assign(new Error(code), { name: code, Code: code, $metadata: { httpStatusCode: status } });
const pgError = (code: string) => Object.assign(new Error(`pg ${code}`), { code });

describe('sinks classify saturation as a SaturationError with a delay', () => {
  it('S3 SlowDown, 503 and throttling; not a 500 or a network error', () => {
    for (const [code, status] of [
      ['SlowDown', 503],
      ['ServiceUnavailable', 503],
      ['ThrottlingException', 400],
      ['TooManyRequests', 429],
    ] as const) {
      const err = classifyS3Error(s3Error(code, status), { operation: 'UploadPart' });
      expect(err, code).toBeInstanceOf(SaturationError);
      expect(err.code).toBe('storage_unavailable');
      expect((err as SaturationError).retryAfterMs).toBeGreaterThan(0);
    }
    const internal = classifyS3Error(s3Error('InternalError', 500), { operation: 'PutObject' });
    expect(internal).toBeInstanceOf(TransientError);
    expect(internal).not.toBeInstanceOf(SaturationError);
  });

  it('ClickHouse too many parts (252), simultaneous queries (202), memory (241)', () => {
    for (const code of [252, 202, 241]) {
      const err = classifyClickHouseError(new Error(`Code: ${code}. DB::Exception: too much`));
      expect(err, String(code)).toBeInstanceOf(SaturationError);
      expect(err.code).toBe('backend_busy');
    }
    expect(classifyClickHouseError(new Error('Code: 159. timeout'))).not.toBeInstanceOf(
      SaturationError,
    );
  });

  it('PostgreSQL too many connections, lock not available, an exhausted pool', () => {
    expect(classifyPostgresError(pgError('53300'))).toBeInstanceOf(SaturationError);
    expect(classifyPostgresError(pgError('53300')).code).toBe('backend_unavailable');
    expect(classifyPostgresError(pgError('55P03'))).toBeInstanceOf(SaturationError);
    expect(classifyPostgresError(pgError('55P03')).code).toBe('backend_busy');
    expect(
      classifyPostgresError(new Error('timeout exceeded when trying to connect')),
    ).toBeInstanceOf(SaturationError);
    expect(classifyPostgresError(pgError('40P01'))).not.toBeInstanceOf(SaturationError);
  });

  it('Redis OOM', () => {
    const err = classifyRedisError(
      new Error("OOM command not allowed when used memory > 'maxmemory'."),
    );
    expect(err).toBeInstanceOf(SaturationError);
    expect((err as SaturationError).code).toBe('backend_busy');
  });
});

describe('SinkThrottle', () => {
  const log = createLogger(loadConfig({ LOG_LEVEL: 'silent' }));
  const job = (attemptsStarted: number, attemptsMade: number) =>
    ({ name: 'artifact.upload', attemptsStarted, attemptsMade }) as Job;
  const saturated = new SaturationError(
    'storage_unavailable',
    'SlowDown',
    {},
    { retryAfterMs: 500 },
  );

  it('limits the queue, doubling per throttle of the job, and answers a RateLimitError', async () => {
    const limits: number[] = [];
    const metrics = createMetrics({ role: 'worker', defaultMetrics: false });
    const throttle = new SinkThrottle({
      limit: (_queue, ms) => {
        limits.push(ms);
        return Promise.resolve();
      },
      metrics,
    });
    const first = await throttle.slowDown(saturated, job(1, 0), 'artifacts', log);
    expect(first?.message).toBe('bullmq:rateLimitExceeded');
    await throttle.slowDown(saturated, job(3, 0), 'artifacts', log);
    expect(limits).toEqual([500, 2_000]);
    expect(await metrics.render()).toMatch(
      /stowage_sink_throttles_total\{[^}]*code="storage_unavailable"[^}]*\} 2/,
    );
  });

  it('lets other errors, and a job throttled too often, take the usual course', async () => {
    const throttle = new SinkThrottle({
      limit: () => Promise.resolve(),
      metrics: createMetrics({ role: 'worker', defaultMetrics: false }),
      maxPerJob: 3,
    });
    const plain = new TransientError('backend_error', 'boom');
    expect(await throttle.slowDown(plain, job(1, 0), 'artifacts', log)).toBeUndefined();
    expect(await throttle.slowDown(saturated, job(4, 0), 'artifacts', log)).toBeUndefined();
    const failing = new SinkThrottle({
      limit: () => Promise.reject(new Error('redis away')),
      metrics: createMetrics({ role: 'worker', defaultMetrics: false }),
    });
    expect(await failing.slowDown(saturated, job(1, 0), 'artifacts', log)).toBeUndefined();
  });
});
