import { toIocView, type IocLookup } from '../../src/domain/api/iocs.js';
import { IOC_TYPES, normalizeIocValue, type IocType } from '../../src/domain/ioc.js';
import { NotFoundError, ValidationError } from '../../src/errors/index.js';
import type { CacheMetrics } from '../../src/metrics.js';
import type { HotStore } from '../../src/stores/hot/hot-store.js';
import type { RedisIocCache } from '../../src/stores/redis/ioc-cache.js';

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

/** Looks an IOC up, cache first, hot store second; a NotFoundError naming `value` when neither has it. */
export async function lookupIoc(
  input: IndicatorInput,
  deps: {
    cache: Pick<RedisIocCache, 'lookup'>;
    hotStore: Pick<HotStore, 'get'>;
    metrics: CacheMetrics;
  },
): Promise<IocLookup> {
  const { type, value } = parseIndicator(input);
  const cached = await deps.cache.lookup(type, value);
  deps.metrics.lookup(cached ? 'hit' : 'miss');
  if (cached) return { cached: true, ioc: toIocView(cached) };
  const stored = await deps.hotStore.get(type, value);
  if (!stored) {
    throw new NotFoundError(`no ${type} ${value}`, { type, value }, [
      { path: 'value', message: 'unknown IOC' },
    ]);
  }
  return { cached: false, ioc: toIocView(stored) };
}
