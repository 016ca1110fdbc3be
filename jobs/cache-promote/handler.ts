import type { HotRule } from '../../src/domain/ioc.js';
import type { HotStore } from '../../src/stores/hot/hot-store.js';
import type { RedisIocCache } from '../../src/stores/redis/ioc-cache.js';
import { syncCache } from '../../src/stores/hot/cache-sync.js';
import type { Handler } from '../job-definition.js';
import type { cachePromoteJob } from './definition.js';

/** What cache.promote needs. */
export interface CachePromoteDeps {
  hotStore: HotStore;
  iocCache: RedisIocCache;
  /** The hot rule and CACHE_PROMOTE_LIMIT, the defaults of a payload that names neither. */
  settings: { readonly hotRule: HotRule; readonly promoteLimit: number };
}

/** Reads the hot IOCs from the store and writes them to the cache, pipelined, with the TTL. */
export function createCachePromoteHandler(deps: CachePromoteDeps): Handler<typeof cachePromoteJob> {
  return async (payload, ctx) => {
    const minConfidence = payload.min_confidence ?? deps.settings.hotRule.minConfidence;
    const maxAgeHours = payload.max_age_hours ?? deps.settings.hotRule.maxAgeHours;
    const limit = payload.limit ?? deps.settings.promoteLimit;
    const since = new Date(Date.now() - maxAgeHours * 3_600_000);
    const hot = await deps.hotStore.findHot({ minConfidence, since, limit });
    await ctx.progress(50);
    // Written through the same check as inserts: an upsert racing this read wins.
    const { cached: promoted } = await syncCache(
      deps.hotStore,
      deps.iocCache,
      hot,
      {
        minConfidence,
        maxAgeHours,
      },
      hot,
    );
    await ctx.progress(100);
    ctx.log.info({ promoted, minConfidence, maxAgeHours, limit }, 'cache warmed');
    return { promoted, min_confidence: minConfidence, max_age_hours: maxAgeHours };
  };
}
