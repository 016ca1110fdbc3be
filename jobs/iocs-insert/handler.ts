import { isHot, mergeBatch, type HotRule } from '../../src/domain/ioc.js';
import type { HotStore } from '../../src/stores/hot-store.js';
import type { RedisIocCache } from '../../src/stores/ioc-cache.js';
import type { Handler } from '../job-definition.js';
import type { iocsInsertJob } from './definition.js';

/** What iocs.insert needs. */
export interface IocsInsertDeps {
  hotStore: HotStore;
  iocCache: RedisIocCache;
  hotRule: HotRule;
}

/**
 * Merges duplicates within the batch, upserts it (idempotent: replaying changes nothing),
 * then writes the hot ones to the cache in one pipeline. The cache is written after the
 * store, so a cached IOC is always one the store holds.
 */
export function createIocsInsertHandler(deps: IocsInsertDeps): Handler<typeof iocsInsertJob> {
  return async (payload, ctx) => {
    const batch = mergeBatch(payload.iocs);
    const { written } = await deps.hotStore.upsert(batch);
    await ctx.progress(80);
    // Cache the merged row as stored, so the cache never shows less than the store.
    const now = new Date();
    const hotKeys = batch.filter((ioc) => isHot(ioc, deps.hotRule, now));
    const stored = hotKeys.length === 0 ? [] : await deps.hotStore.getMany(hotKeys);
    const cached = await deps.iocCache.putMany(
      stored.filter((ioc) => isHot(ioc, deps.hotRule, now)),
    );
    await ctx.progress(100);
    ctx.log.info({ received: payload.iocs.length, written, cached }, 'iocs upserted');
    return { received: payload.iocs.length, written, cached };
  };
}
