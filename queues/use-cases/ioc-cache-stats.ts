import type { CacheStats } from '../../src/stores/redis/ioc-cache.js';
import type { RedisIocCache } from '../../src/stores/redis/ioc-cache.js';

/** The IOC cache's hits, misses, hit rate and live keys. */
export async function iocCacheStats(deps: {
  cache: Pick<RedisIocCache, 'stats'>;
}): Promise<CacheStats> {
  return deps.cache.stats();
}
