import { toIocView, type IocLookup } from '../../src/domain/api/iocs.js';
import { IOC_TYPES, normalizeIocValue, type IocType } from '../../src/domain/ioc.js';
import { NotFoundError, ValidationError } from '../../src/errors/index.js';
import type { CacheMetrics } from '../../src/metrics.js';
import type { HotStore } from '../../src/stores/hot/hot-store.js';
import type { RedisIocCache } from '../../src/stores/redis/ioc-cache.js';
import type { ArchivedIocReader } from '../../src/stores/s3/archived-ioc-reader.js';

/** An indicator as a caller names it: a type and a raw value, neither checked yet. */
export interface IndicatorInput {
  type: string;
  value: string;
}

/** The indicator normalized, or a ValidationError naming the bad part (`type` or `value`). */
export function parseIndicator(input: IndicatorInput): { type: IocType; value: string } {
  const type = IOC_TYPES.find((t) => t === input.type);
  if (type === undefined) {
    throw new ValidationError(
      [{ path: 'type', message: `must be one of ${IOC_TYPES.join(', ')}` }],
      'unknown IOC type',
    );
  }
  const value = normalizeIocValue(type, input.value);
  if (value === undefined) {
    throw new ValidationError(
      [{ path: 'value', message: `not a valid ${type}` }],
      `not a valid ${type}`,
    );
  }
  return { type, value };
}

/** How a look-up reads. */
export interface LookupOptions {
  /**
   * False: the hot store is read directly, the cache neither read nor written (seed 000's
   * `use_cache=False`). True by default.
   */
  useCache?: boolean;
}

/**
 * Looks an IOC up: cache first (unless `useCache` is false), the hot store second, the WORM
 * archive last (when archiving is on) for a row retention removed from the hot store; the
 * hot row wins whenever there is one. A NotFoundError naming `value` when none has it.
 */
export async function lookupIoc(
  input: IndicatorInput,
  deps: {
    cache: Pick<RedisIocCache, 'lookup'>;
    hotStore: Pick<HotStore, 'get'>;
    metrics: CacheMetrics;
    /** The archive look-up; undefined when ARCHIVE_ENABLED is false. */
    archive?: Pick<ArchivedIocReader, 'find'> | undefined;
  },
  options: LookupOptions = {},
): Promise<IocLookup> {
  const { type, value } = parseIndicator(input);
  if (options.useCache !== false) {
    const cached = await deps.cache.lookup(type, value);
    deps.metrics.lookup(cached ? 'hit' : 'miss');
    if (cached) return { cached: true, tier: 'hot', ioc: toIocView(cached) };
  }
  const stored = await deps.hotStore.get(type, value);
  if (stored) return { cached: false, tier: 'hot', ioc: toIocView(stored) };
  const archived = await deps.archive?.find(type, value);
  if (archived) return { cached: false, tier: 'archive', ioc: toIocView(archived.ioc) };
  throw new NotFoundError(`no ${type} ${value}`, { type, value }, [
    { path: 'value', message: 'unknown IOC' },
  ]);
}
