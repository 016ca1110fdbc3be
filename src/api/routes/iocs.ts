import { Router } from 'express';
import { z } from 'zod';
import { IOC_TYPES, normalizeIocValue, type IocType, type StoredIoc } from '../../domain/ioc.js';
import type { HotStore } from '../../stores/hot/hot-store.js';
import type { RedisIocCache } from '../../stores/redis/ioc-cache.js';
import type { CacheMetrics } from '../../metrics.js';
import { requireScope } from '../auth.js';
import { HttpProblem } from '../problem.js';

/** The :type of an IOC route. */
export const iocTypeSchema = z.enum(IOC_TYPES);

/** The indicator named by a route's :type and :value, normalized; 400 naming the bad part. */
function indicator(params: Record<string, unknown>): { type: IocType; value: string } {
  const type = iocTypeSchema.safeParse(params.type);
  if (!type.success) {
    throw new HttpProblem(400, 'invalid_payload', `unknown IOC type`, [
      { path: 'type', message: `must be one of ${IOC_TYPES.join(', ')}` },
    ]);
  }
  const value = normalizeIocValue(type.data, String(params.value));
  if (value === undefined) {
    throw new HttpProblem(400, 'invalid_payload', `not a valid ${type.data}`, [
      { path: 'value', message: `not a valid ${type.data}` },
    ]);
  }
  return { type: type.data, value };
}

const view = (ioc: StoredIoc) => ({
  ...ioc,
  first_seen: ioc.first_seen.toISOString(),
  last_seen: ioc.last_seen.toISOString(),
});

/** IOC look-up (cache first, hot-store fallback), cache invalidation and cache statistics. */
export function iocRoutes(
  hotStore: () => HotStore,
  cache: () => RedisIocCache,
  metrics: CacheMetrics,
): Router {
  const router = Router();

  router.get('/v1/iocs/:type/:value', requireScope('read'), async (req, res) => {
    const { type, value } = indicator(req.params);
    const cached = await cache().lookup(type, value);
    metrics.lookup(cached ? 'hit' : 'miss');
    if (cached) {
      res.json({ cached: true, ioc: view(cached) });
      return;
    }
    const stored = await hotStore().get(type, value);
    if (!stored)
      throw new HttpProblem(404, 'not_found', `no ${type} ${value}`, [
        { path: 'value', message: 'unknown IOC' },
      ]);
    res.json({ cached: false, ioc: view(stored) });
  });

  router.delete('/v1/cache/iocs/:type/:value', requireScope('ingest'), async (req, res) => {
    const { type, value } = indicator(req.params);
    res.json({ type, value, invalidated: await cache().invalidate(type, value) });
  });

  router.get('/v1/cache/stats', requireScope('read'), async (_req, res) => {
    res.json(await cache().stats());
  });

  return router;
}
