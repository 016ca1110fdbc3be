import { describe, expect, it } from 'vitest';
import { jobIdForKey, jobIdForTick, newJobId, typeOfJobId } from '../../jobs/job-id.js';

describe('job ids', () => {
  it('the same idempotency key gives the same id; another key or type another id', () => {
    expect(jobIdForKey('iocs.insert', 'k1')).toBe(jobIdForKey('iocs.insert', 'k1'));
    expect(jobIdForKey('iocs.insert', 'k1')).not.toBe(jobIdForKey('iocs.insert', 'k2'));
    expect(jobIdForKey('iocs.insert', 'k1')).not.toBe(jobIdForKey('cache.promote', 'k1'));
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
