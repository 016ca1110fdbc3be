import { describe, expect, it } from 'vitest';
import {
  APP_KEY_SCOPE,
  apiKeyScope,
  jobIdForKey,
  jobIdForTick,
  newJobId,
  typeOfJobId,
} from '../../jobs/job-id.js';
import { requestDigest } from '../../src/stores/redis/idempotency-store.js';

describe('job ids', () => {
  it('the same idempotency key gives the same id; another key or type another id', () => {
    expect(jobIdForKey('iocs.insert', 'k1')).toBe(jobIdForKey('iocs.insert', 'k1'));
    expect(jobIdForKey('iocs.insert', 'k1')).not.toBe(jobIdForKey('iocs.insert', 'k2'));
    expect(jobIdForKey('iocs.insert', 'k1')).not.toBe(jobIdForKey('cache.promote', 'k1'));
  });

  it('a key in a scope gives another id for another caller, route, request or the app namespace', () => {
    const id = (scope?: string) => jobIdForKey('iocs.insert', 'run-42', scope);
    const x = apiKeyScope('collector-x', 'POST /v1/ingest/iocs', 'd1');
    expect(id(x)).toBe(id(apiKeyScope('collector-x', 'POST /v1/ingest/iocs', 'd1')));
    const others = [
      id(apiKeyScope('collector-y', 'POST /v1/ingest/iocs', 'd1')),
      id(apiKeyScope('collector-x', 'POST /v1/jobs/{type}', 'd1')),
      id(apiKeyScope('collector-x', 'POST /v1/ingest/iocs', 'd2')),
      id(APP_KEY_SCOPE),
      id(),
    ];
    expect(new Set([id(x), ...others]).size).toBe(6);
  });

  it('a request digest ignores object key order but not values', () => {
    expect(requestDigest({ a: 1, b: { c: [1, 2], d: 'x' } })).toBe(
      requestDigest({ b: { d: 'x', c: [1, 2] }, a: 1 }),
    );
    expect(requestDigest({ a: 1, b: [1, 2] })).not.toBe(requestDigest({ a: 1, b: [2, 1] }));
    expect(requestDigest({ t: new Date('2026-01-01T00:00:00Z') })).toBe(
      requestDigest({ t: '2026-01-01T00:00:00.000Z' }),
    );
  });

  it('never contains ":" (BullMQ refuses it) and always names its type', () => {
    for (const id of [
      jobIdForKey('uploads.abort-stale', 'a:b:c'),
      newJobId('iocs.insert'),
      jobIdForTick('retention.cleanup', new Date('2026-03-01T02:45:00Z')),
    ]) {
      expect(id).not.toContain(':');
      expect(Number.isInteger(Number(id))).toBe(false);
    }
    expect(typeOfJobId(jobIdForKey('uploads.abort-stale', 'x'))).toBe('uploads.abort-stale');
    expect(typeOfJobId(newJobId('iocs.insert'))).toBe('iocs.insert');
    expect(typeOfJobId('plain')).toBeUndefined();
  });

  it('a tick id depends only on the job and the tick second', () => {
    const a = jobIdForTick('cache.promote', new Date('2026-03-01T02:45:00.000Z'));
    const b = jobIdForTick('cache.promote', new Date('2026-03-01T02:45:00.900Z'));
    const c = jobIdForTick('cache.promote', new Date('2026-03-01T02:46:00.000Z'));
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });
});
