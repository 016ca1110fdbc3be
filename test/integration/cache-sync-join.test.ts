import { afterEach, describe, expect, it } from 'vitest';
import type { StoredIoc } from '../../src/domain/ioc.js';
import { syncCacheByJoin } from '../../src/stores/hot/cache-sync.js';
import type { HotStore } from '../../src/stores/hot/hot-store.js';
import { StowageWorld } from '../helpers/world.js';

const rule = { minConfidence: 0.7, maxAgeHours: 24 };

function sighting(
  confidence: number,
  minutesAgo: number,
  source: string,
  value = 'racy.example.com',
): StoredIoc {
  const lastSeen = new Date(Date.now() - minutesAgo * 60_000);
  return {
    type: 'domain',
    value,
    threat_type: confidence >= 0.7 ? 'c2' : 'scanner',
    confidence,
    sources: [source],
    first_seen: new Date(lastSeen.getTime() - 3_600_000),
    last_seen: lastSeen,
    tags: [`t-${source}`],
  };
}

const line = (ioc: StoredIoc | undefined) =>
  ioc === undefined
    ? 'absent'
    : JSON.stringify([
        ioc.threat_type,
        ioc.confidence,
        ioc.sources,
        ioc.first_seen.toISOString(),
        ioc.last_seen.toISOString(),
        ioc.tags,
      ]);

// ClickHouse is the store that needs it (it appends sightings and cannot say what changed);
// the sync only reads the store, so it holds on PostgreSQL too.
describe.each(['clickhouse', 'postgres'] as const)('syncCacheByJoin on %s', (backend) => {
  let world: StowageWorld;
  afterEach(() => world.close());

  async function open() {
    world = new StowageWorld({ HOT_STORE: backend });
    await world.initStores();
    return world.deps;
  }

  /** Appends a batch and syncs it, as iocs.insert does on ClickHouse. */
  async function ingest(store: Pick<HotStore, 'upsert' | 'getMany'>, batch: StoredIoc[]) {
    await world.deps.hotStore.upsert(batch);
    return syncCacheByJoin(store, world.deps.iocCache, batch, rule);
  }

  it('caches the hot rows of a batch as the store holds them and leaves the cold ones out', async () => {
    const { hotStore, iocCache } = await open();
    await hotStore.upsert([sighting(0.5, 600, 'older', 'hot.example.com')]);
    const result = await ingest(hotStore, [
      sighting(0.9, 10, 'feed-a', 'hot.example.com'),
      sighting(0.2, 10, 'feed-a', 'cold.example.com'),
    ]);
    expect(result).toEqual({ cached: 1, evicted: 0 });
    const cached = await iocCache.lookup('domain', 'hot.example.com');
    expect(line(cached)).toBe(line(await hotStore.get('domain', 'hot.example.com')));
    expect(cached?.sources).toEqual(['feed-a', 'older']);
    expect(await iocCache.lookup('domain', 'cold.example.com')).toBeUndefined();
  });

  it('merges a later sighting into a cached copy without reading the store, and evicts one that cools it', async () => {
    const { hotStore, iocCache } = await open();
    await ingest(hotStore, [sighting(0.9, 30, 'feed-a')]);
    let reads = 0;
    const counting = {
      upsert: hotStore.upsert.bind(hotStore),
      getMany: (keys: Parameters<HotStore['getMany']>[0]) => {
        reads++;
        return hotStore.getMany(keys);
      },
    };
    // An older, hotter sighting: not the latest, but its source and first_seen join in.
    await ingest(counting, [sighting(0.95, 120, 'feed-b')]);
    expect(reads).toBe(0);
    expect(line(await iocCache.lookup('domain', 'racy.example.com'))).toBe(
      line(await hotStore.get('domain', 'racy.example.com')),
    );
    // A later, low-confidence sighting is the latest now: the indicator is not hot any more.
    const result = await ingest(counting, [sighting(0.1, 1, 'feed-c')]);
    expect(reads).toBe(0);
    expect(result.evicted).toBe(1);
    expect(await iocCache.lookup('domain', 'racy.example.com')).toBeUndefined();
  });

  it('a sync that read the store before another sighting landed does not cache its older copy', async () => {
    const { hotStore, iocCache } = await open();
    // A's hot sighting is appended; A reads the store for it (uncached)...
    const a = [sighting(0.9, 30, 'feed-a')];
    await hotStore.upsert(a);
    let interleaved = false;
    const racing = {
      getMany: async (keys: Parameters<HotStore['getMany']>[0]) => {
        const rows = await hotStore.getMany(keys);
        if (!interleaved) {
          interleaved = true;
          // ...and before A writes, B appends a later sighting that cools it and syncs.
          await ingest(hotStore, [sighting(0.1, 5, 'feed-b')]);
        }
        return rows;
      },
    };
    await syncCacheByJoin(racing, iocCache, a, rule);
    expect(interleaved).toBe(true);
    // A's write lost the compare-and-set; its second round read the cooled row.
    expect(await iocCache.lookup('domain', 'racy.example.com')).toBeUndefined();
    expect((await hotStore.get('domain', 'racy.example.com'))?.confidence).toBe(0.1);
  });

  it('concurrent syncs of overlapping batches leave every cached copy equal to the store', async () => {
    const { hotStore, iocCache } = await open();
    const values = Array.from({ length: 12 }, (_, i) => `k${i}.example.com`);
    const jobs = Array.from({ length: 16 }, (_, j) =>
      values
        .filter((_, i) => (i + j) % 3 !== 0)
        .map((value, i) =>
          sighting([0.9, 0.3, 0.8, 0.75][(i + j) % 4]!, (j * 7 + i * 13) % 240, `s${j}`, value),
        ),
    );
    await Promise.all(jobs.map((batch) => ingest(hotStore, batch)));
    // Under this much contention a sync may give up and evict (never stale); what is cached
    // must be the store's row.
    for (const value of values) {
      const cached = await iocCache.lookup('domain', value);
      if (cached !== undefined)
        expect(line(cached), value).toBe(line(await hotStore.get('domain', value)));
    }
    // Once quiet, a hot sighting of each is cached as the store's merged row.
    for (const value of values) await ingest(hotStore, [sighting(0.9, 0, 'last', value)]);
    for (const value of values) {
      const cached = await iocCache.lookup('domain', value);
      expect(cached, value).toBeDefined();
      expect(line(cached), value).toBe(line(await hotStore.get('domain', value)));
    }
  });
});
