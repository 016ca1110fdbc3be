import type { IocDeleted } from '../../src/domain/api/ioc-search.js';
import type { HotRule } from '../../src/domain/ioc.js';
import { NotFoundError } from '../../src/errors/index.js';
import type { Logger } from '../../src/log.js';
import { syncCache } from '../../src/stores/hot/cache-sync.js';
import type { HotStore } from '../../src/stores/hot/hot-store.js';
import type { IocSearch } from '../../src/stores/hot/ioc-search.js';
import type { RedisIocCache } from '../../src/stores/redis/ioc-cache.js';
import { parseIndicator, type IndicatorInput } from './lookup-ioc.js';

/**
 * Deletes an IOC from the hot store, then from the cache: the cache is emptied after the
 * store, never before (a look-up in between could cache the row again), and then synced
 * as ingest syncs it, so an ingest that re-created the IOC meanwhile leaves it cached as
 * the store holds it, never the deleted copy. A NotFoundError naming `value` when the store
 * did not hold it (the cache is emptied of it all the same). Logged with the caller.
 */
export async function deleteIoc(
  input: IndicatorInput,
  deps: {
    search: Pick<IocSearch, 'delete'>;
    hotStore: Pick<HotStore, 'getMany'>;
    cache: Pick<RedisIocCache, 'invalidate' | 'putMany' | 'evictMany'>;
    hotRule: HotRule;
    log: Pick<Logger, 'info'>;
    caller?: string | undefined;
  },
): Promise<IocDeleted> {
  const { type, value } = parseIndicator(input);
  const deleted = await deps.search.delete(type, value);
  const uncached = await deps.cache.invalidate(type, value);
  await syncCache(deps.hotStore, deps.cache, [{ type, value }], deps.hotRule);
  if (!deleted) {
    throw new NotFoundError(`no ${type} ${value}`, { type, value }, [
      { path: 'value', message: 'unknown IOC' },
    ]);
  }
  deps.log.info({ type, value, uncached, caller: deps.caller }, 'ioc deleted');
  return { type, value, deleted: true, uncached };
}
