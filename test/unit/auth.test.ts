import { describe, expect, it } from 'vitest';
import { hasScope, matchKey, secretFromHeader } from '../../src/http/auth.js';
import { loadConfig } from '../../src/config.js';

const keys = loadConfig({
  API_KEYS:
    'collector:aaaaaaaaaaaaaaaa1:ingest,ops:bbbbbbbbbbbbbbbb2:admin,viewer:cccccccccccccccc3:read',
}).API_KEYS;

describe('API key auth', () => {
  it('matches a presented secret to its key, and nothing else', () => {
    expect(matchKey(keys, 'aaaaaaaaaaaaaaaa1')?.name).toBe('collector');
    expect(matchKey(keys, 'bbbbbbbbbbbbbbbb2')?.name).toBe('ops');
    expect(matchKey(keys, 'aaaaaaaaaaaaaaaa')).toBeUndefined();
    expect(matchKey(keys, 'aaaaaaaaaaaaaaaa1 ')).toBeUndefined();
    expect(matchKey(keys, '')).toBeUndefined();
  });

  it('reads Bearer and Basic (key as password) headers', () => {
    expect(secretFromHeader('Bearer abc')).toBe('abc');
    expect(secretFromHeader('bearer abc')).toBe('abc');
    expect(
      secretFromHeader(`Basic ${Buffer.from('me:s3cret:with:colons').toString('base64')}`),
    ).toBe('s3cret:with:colons');
    expect(secretFromHeader('Token abc')).toBeUndefined();
    expect(secretFromHeader('Bearer')).toBeUndefined();
    expect(secretFromHeader(undefined)).toBeUndefined();
  });

  it('admin holds every scope; others only their own', () => {
    const [collector, ops, viewer] = keys;
    expect(hasScope(collector, 'ingest')).toBe(true);
    expect(hasScope(collector, 'read')).toBe(false);
    expect(hasScope(ops, 'artifacts')).toBe(true);
    expect(hasScope(viewer, 'read')).toBe(true);
    expect(hasScope(viewer, 'admin')).toBe(false);
    expect(hasScope(undefined, 'read')).toBe(false);
  });
});
