/** The use cases behind the table's routes are plain functions: no express, fake stores. */
import { describe, expect, it } from 'vitest';
import type { StoredIoc } from '../../src/domain/ioc.js';
import type { Watermark } from '../../src/domain/watermark.js';
import { ConflictError, NotFoundError, ValidationError } from '../../src/errors/index.js';
import { checkReadiness } from '../../queues/use-cases/check-readiness.js';
import { getWatermark } from '../../queues/use-cases/get-watermark.js';
import { lookupIoc } from '../../queues/use-cases/lookup-ioc.js';
import { rewindWatermark } from '../../queues/use-cases/rewind-watermark.js';

const watermark: Watermark = {
  source_id: 'otx',
  last_successful_timestamp: new Date('2026-01-02T00:00:00Z'),
  last_run_timestamp: new Date('2026-01-02T00:00:00Z'),
  status: 'success',
  records_collected: 3,
  error_message: null,
} as Watermark;

const ioc: StoredIoc = {
  type: 'domain',
  value: 'evil.example.com',
  threat_type: 'malware',
  confidence: 0.9,
  sources: ['otx'],
  first_seen: new Date('2026-01-01T00:00:00Z'),
  last_seen: new Date('2026-01-02T00:00:00Z'),
  tags: [],
};

describe('api use cases', () => {
  it('a watermark not recorded yet is a NotFoundError naming source_id', async () => {
    const err = await getWatermark(
      { sourceId: 'otx' },
      { watermarks: { get: () => Promise.resolve(undefined) } },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).issues).toEqual([
      { path: 'source_id', message: 'no run has been recorded for this source' },
    ]);
  });

  it('a rewind that does not go back is a ConflictError naming timestamp', async () => {
    const err = await rewindWatermark(
      {
        sourceId: 'otx',
        timestamp: new Date('2026-01-03T00:00:00Z'),
        reason: 'test',
        actor: { by: 'ops', via: 'cli' },
      },
      { watermarks: { rewind: () => Promise.resolve({ outcome: 'not-earlier', watermark }) } },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).issues?.[0]?.path).toBe('timestamp');
  });

  it('an IOC lookup checks the type, then answers from the cache or the hot store', async () => {
    const counted: string[] = [];
    const deps = {
      cache: { lookup: () => Promise.resolve(undefined) },
      hotStore: { get: () => Promise.resolve(ioc) },
      metrics: { lookup: (r: 'hit' | 'miss') => void counted.push(r) },
    };
    await expect(lookupIoc({ type: 'hostname', value: 'x' }, deps)).rejects.toBeInstanceOf(
      ValidationError,
    );
    const found = await lookupIoc({ type: 'domain', value: 'EVIL.example.com' }, deps);
    expect(found).toMatchObject({ cached: false, ioc: { first_seen: '2026-01-01T00:00:00.000Z' } });
    expect(counted).toEqual(['miss']);
  });

  it('readiness lists each backend and the ones down', async () => {
    const readiness = await checkReadiness({
      checkBackends: () =>
        Promise.resolve([
          { name: 'redis', ok: true },
          { name: 's3', ok: false },
        ]),
    });
    expect(readiness).toEqual({
      ready: false,
      backends: { redis: 'up', s3: 'down' },
      down: [{ name: 's3', error: 'no answer' }],
    });
  });
});
