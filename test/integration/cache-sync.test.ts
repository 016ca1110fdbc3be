import { afterEach, describe, expect, it } from 'vitest';
import type { StoredIoc } from '../../src/domain/ioc.js';
import { syncCache } from '../../src/stores/hot/cache-sync.js';
import { StowageWorld } from '../helpers/world.js';

const rule = { minConfidence: 0.7, maxAgeHours: 24 };

function sighting(confidence: number, minutesAgo: number, source: string): StoredIoc {
  const lastSeen = new Date(Date.now() - minutesAgo * 60_000);
  return {
    type: 'domain',
    value: 'racy.example.com',
    threat_type: 'c2',
    confidence,
    sources: [source],
    first_seen: new Date(lastSeen.getTime() - 3_600_000),
    last_seen: lastSeen,
    tags: [],
  };
}

describe.each(['postgres', 'clickhouse'] as const)('syncCache on %s', (hotStore) => {
  let world: StowageWorld;
  afterEach(() => world.close());

  async function open() {
    world = new StowageWorld({ HOT_STORE: hotStore });
    await world.initStores();
    return world.deps;
  }

  it('a job that read the store before a later upsert does not leave its older, hot copy cached', async () => {
    const { hotStore, iocCache } = await open();
    const key = { type: 'domain' as const, value: 'racy.example.com' };
    // Job A upserts a hot sighting and reads it back...
    await hotStore.upsert([sighting(0.9, 30, 'feed-a')]);
    const aSnapshot = await hotStore.getMany([key]);
    // ...job B upserts a later, low-confidence sighting (no longer hot) and syncs first...
    await hotStore.upsert([sighting(0.2, 5, 'feed-b')]);
    await syncCache(hotStore, iocCache, [key], rule);
    expect(await iocCache.lookup(key.type, key.value)).toBeUndefined();
    // ...then A writes what it read: the re-read after the write sees B's row and evicts.
    const result = await syncCache(hotStore, iocCache, [key], rule, aSnapshot);
    expect(result.evicted).toBeGreaterThan(0);
    expect(await iocCache.lookup(key.type, key.value)).toBeUndefined();
  });

  it('a stale hot copy is replaced by the store’s newer hot row', async () => {
    const { hotStore, iocCache } = await open();
    const key = { type: 'domain' as const, value: 'racy.example.com' };
    await hotStore.upsert([sighting(0.8, 30, 'feed-a')]);
    const stale = await hotStore.getMany([key]);
    await hotStore.upsert([sighting(0.95, 5, 'feed-b')]);
    await syncCache(hotStore, iocCache, [key], rule, stale);
    const cached = await iocCache.lookup(key.type, key.value);
    expect(cached?.confidence).toBe(0.95);
    expect(cached?.sources).toEqual(['feed-a', 'feed-b']);
  });

  it('an indicator that stopped being hot is removed from the cache by the insert that cooled it', async () => {
    const { hotStore, iocCache } = await open();
    const key = { type: 'domain' as const, value: 'racy.example.com' };
    await hotStore.upsert([sighting(0.9, 30, 'feed-a')]);
    await syncCache(hotStore, iocCache, [key], rule);
    expect((await iocCache.lookup(key.type, key.value))?.confidence).toBe(0.9);
    await hotStore.upsert([sighting(0.1, 1, 'feed-b')]);
    await syncCache(hotStore, iocCache, [key], rule);
    expect(await iocCache.lookup(key.type, key.value)).toBeUndefined();
  });
});
