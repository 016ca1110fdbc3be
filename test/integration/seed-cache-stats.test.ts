// Seed 000's cache statistics through the SDK, as its README prints them:
//   stats = await storage.get_cache_stats()
//   print(f"Cache hit rate: {stats['hit_rate']}%")
//   print(f"Total IOCs cached: {stats['ioc_keys']}")
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredIoc } from '../../src/domain/ioc.js';
import { StowageClient } from '../../src/sdk/index.js';
import { TEST_KEYS, TestWorld } from '../helpers/world.js';

const ioc = (value: string): StoredIoc => ({
  type: 'domain',
  value,
  threat_type: 'c2',
  confidence: 0.95,
  sources: ['alienvault_otx'],
  first_seen: new Date('2026-01-01T00:00:00Z'),
  last_seen: new Date('2026-01-02T00:00:00Z'),
  tags: [],
});

describe("seed 000's get_cache_stats names", () => {
  let world: TestWorld;
  let stowage: StowageClient;

  beforeAll(async () => {
    world = new TestWorld();
    await world.initStores();
    stowage = new StowageClient({ baseUrl: await world.startApi(), apiKey: TEST_KEYS.read });
  });
  afterAll(async () => {
    await world?.close();
  });

  it('hit_rate is a percent and ioc_keys the cached IOCs; the old names stay', async () => {
    const empty = await stowage.cacheStats();
    expect(empty).toMatchObject({ hits: 0, misses: 0, hit_rate: 0, hit_ratio: 0, ioc_keys: 0 });

    await world.deps.iocCache.putMany([ioc('evil.com'), ioc('evil.net')]);
    // Three hits and one miss (the miss falls back to the hot store: 404, undefined).
    expect((await stowage.lookupIoc('domain', 'evil.com'))?.cached).toBe(true);
    expect((await stowage.lookupIoc('domain', 'evil.com'))?.cached).toBe(true);
    expect((await stowage.lookupIoc('domain', 'evil.net'))?.cached).toBe(true);
    expect(await stowage.lookupIoc('domain', 'unknown.example')).toBeUndefined();

    const stats = await stowage.cacheStats();
    expect(`Cache hit rate: ${stats.hit_rate}%`).toBe('Cache hit rate: 75%');
    expect(`Total IOCs cached: ${stats.ioc_keys}`).toBe('Total IOCs cached: 2');
    expect(stats).toMatchObject({ hits: 3, misses: 1, hit_ratio: 0.75, keys: 2 });
    expect(stats.total_keys).toBeGreaterThanOrEqual(2);
    expect(stats.used_memory).toMatch(/^\d+(\.\d+)?[BKMGTP]$/);
    expect(stats.used_memory_bytes).toBeGreaterThan(0);
    expect(stats.connected_clients).toBeGreaterThan(0);
  });
});
