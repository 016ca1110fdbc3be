/** The look-up's order of tiers (cache, hot store, archive) and the archive answers' memo. */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { StoredIoc } from '../../src/domain/ioc.js';
import { NotFoundError } from '../../src/errors/index.js';
import { ExpiringMemo } from '../../src/stores/local/expiring-memo.js';
import { findGzipLine } from '../../src/stores/s3/archived-ioc-reader.js';
import { lookupIoc } from '../../queues/use-cases/lookup-ioc.js';

const ioc = (tags: string[]): StoredIoc => ({
  type: 'domain',
  value: 'evil.example.com',
  threat_type: 'c2',
  confidence: 0.5,
  sources: ['otx'],
  first_seen: new Date('2026-01-01T00:00:00Z'),
  last_seen: new Date('2026-01-02T00:00:00Z'),
  tags,
});

function deps(tiers: { cache?: StoredIoc; hot?: StoredIoc; archive?: StoredIoc }) {
  const calls: string[] = [];
  return {
    calls,
    deps: {
      cache: {
        lookup: () => {
          calls.push('cache');
          return Promise.resolve(tiers.cache);
        },
      },
      hotStore: {
        get: () => {
          calls.push('hot');
          return Promise.resolve(tiers.hot);
        },
      },
      metrics: { lookup: (r: 'hit' | 'miss') => void calls.push(`metric:${r}`) },
      archive: {
        find: () => {
          calls.push('archive');
          return Promise.resolve(
            tiers.archive && { ioc: tiers.archive, day: '2026-01-02', generation: 1 },
          );
        },
      },
    },
  };
}

const input = { type: 'domain', value: 'evil.example.com' };

describe('lookupIoc tiers', () => {
  it('useCache false neither reads the cache nor counts a hit or miss', async () => {
    const { calls, deps: d } = deps({ cache: ioc(['cached']), hot: ioc(['hot']) });
    const found = await lookupIoc(input, d, { useCache: false });
    expect(found).toMatchObject({ cached: false, tier: 'hot', ioc: { tags: ['hot'] } });
    expect(calls).toEqual(['hot']);
  });

  it('a cache hit is tier hot and cached', async () => {
    const { calls, deps: d } = deps({ cache: ioc(['cached']), archive: ioc(['old']) });
    expect(await lookupIoc(input, d)).toMatchObject({ cached: true, tier: 'hot' });
    expect(calls).toEqual(['cache', 'metric:hit']);
  });

  it('the hot row wins over an archived copy; the archive is not read', async () => {
    const { calls, deps: d } = deps({ hot: ioc(['hot']), archive: ioc(['old']) });
    expect(await lookupIoc(input, d)).toMatchObject({ tier: 'hot', ioc: { tags: ['hot'] } });
    expect(calls).not.toContain('archive');
  });

  it('a row only the archive holds is tier archive', async () => {
    const { calls, deps: d } = deps({ archive: ioc(['old']) });
    expect(await lookupIoc(input, d, { useCache: false })).toEqual({
      cached: false,
      tier: 'archive',
      ioc: {
        ...ioc(['old']),
        first_seen: '2026-01-01T00:00:00.000Z',
        last_seen: '2026-01-02T00:00:00.000Z',
      },
    });
    expect(calls).toEqual(['hot', 'archive']);
  });

  it('nowhere, or the archive off, is a NotFoundError naming value', async () => {
    const { deps: d } = deps({});
    await expect(lookupIoc(input, d)).rejects.toBeInstanceOf(NotFoundError);
    const off = { ...deps({ archive: ioc(['old']) }).deps, archive: undefined };
    const err = await lookupIoc(input, off).catch((e: unknown) => e);
    expect((err as NotFoundError).issues).toEqual([{ path: 'value', message: 'unknown IOC' }]);
  });
});

describe('ExpiringMemo', () => {
  it('forgets a value after its TTL and the least recently used one past maxEntries', () => {
    let now = 0;
    const memo = new ExpiringMemo<number>({ maxEntries: 2, ttlMs: 100, now: () => now });
    memo.set('a', 1);
    memo.set('b', 2);
    expect(memo.get('a')).toBe(1); // a is now the most recent
    memo.set('c', 3);
    expect(memo.get('b')).toBeUndefined();
    expect(memo.get('a')).toBe(1);
    now = 100;
    expect(memo.get('a')).toBeUndefined();
    expect(memo.get('c')).toBeUndefined();
    expect(memo.size).toBe(0);
  });

  it('keeps nothing with a TTL or size of 0', () => {
    const memo = new ExpiringMemo<number>({ maxEntries: 0, ttlMs: 100 });
    memo.set('a', 1);
    expect(memo.get('a')).toBeUndefined();
  });
});

describe('findGzipLine', () => {
  it('finds any line of a multi-chunk gzip part, first and last included, and nothing else', async () => {
    const lines = Array.from(
      { length: 20_000 },
      (_, i) => `{"type":"domain","value":"v${i}.example.com","n":${i}}`,
    );
    const part = gzipSync(`${lines.join('\n')}\n`);
    for (const i of [0, 1, 777, 9_999, 12_345, 19_999]) {
      expect(await findGzipLine(part, `{"type":"domain","value":"v${i}.example.com",`)).toBe(
        lines[i],
      );
    }
    // A prefix of another value is not that value.
    expect(await findGzipLine(part, `{"type":"domain","value":"v1.example.co",`)).toBeUndefined();
    expect(await findGzipLine(part, `{"type":"ipv4","value":"v1.example.com",`)).toBeUndefined();
  });
});
