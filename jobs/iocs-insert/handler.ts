import { iocKey, mergeBatch, type HotRule, type StoredIoc } from '../../src/domain/ioc.js';
import { syncCache } from '../../src/stores/hot/cache-sync.js';
import type { HotStore } from '../../src/stores/hot/hot-store.js';
import type { RedisIocCache } from '../../src/stores/redis/ioc-cache.js';
import type { Handler } from '../job-definition.js';
import type { iocsInsertJob } from './definition.js';

/**
 * The store's rows for every key of the batch: those the upsert returned, and a read of
 * the keys it left unchanged (none on a first ingest, all on a replay).
 */
async function completeSnapshot(
  store: HotStore,
  batch: readonly StoredIoc[],
  changed: readonly StoredIoc[],
): Promise<StoredIoc[]> {
  const have = new Set(changed.map(iocKey));
  const missing = batch.filter((ioc) => !have.has(iocKey(ioc)));
  return missing.length === 0 ? [...changed] : [...changed, ...(await store.getMany(missing))];
}

/** What iocs.insert needs. */
export interface IocsInsertDeps {
  hotStore: HotStore;
  iocCache: RedisIocCache;
  hotRule: HotRule;
}

/**
 * Merges duplicates within the batch, upserts it (idempotent: replaying changes nothing),
 * then brings the cache in line with the merged rows the store now holds: hot ones
 * written, ones that stopped being hot removed. The cache is written after the store, so
 * a cached IOC is always one the store holds, and never an older copy of it.
 */
export function createIocsInsertHandler(deps: IocsInsertDeps): Handler<typeof iocsInsertJob> {
  return async (payload, ctx) => {
    const batch = mergeBatch(payload.iocs);
    const { written, changed } = await deps.hotStore.upsert(batch);
    ctx.metrics.rowsInserted(written);
    await ctx.progress(80);
    const { cached, evicted } = await syncCache(
      deps.hotStore,
      deps.iocCache,
      batch,
      deps.hotRule,
      changed && (await completeSnapshot(deps.hotStore, batch, changed)),
    );
    await ctx.progress(100);
    ctx.log.info({ received: payload.iocs.length, written, cached, evicted }, 'iocs upserted');
    return { received: payload.iocs.length, written, cached };
  };
}
