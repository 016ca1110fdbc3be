import type { CacheInvalidation } from '../../src/domain/api/iocs.js';
import type { RedisIocCache } from '../../src/stores/redis/ioc-cache.js';
import { parseIndicator, type IndicatorInput } from './lookup-ioc.js';

/** Drops an IOC from the cache; says whether it was there. */
export async function uncacheIoc(
  input: IndicatorInput,
  deps: { cache: Pick<RedisIocCache, 'invalidate'> },
): Promise<CacheInvalidation> {
  const { type, value } = parseIndicator(input);
  return { type, value, invalidated: await deps.cache.invalidate(type, value) };
}
