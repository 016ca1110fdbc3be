import { z } from 'zod';
import {
  cacheInvalidationSchema,
  cacheStatsSchema,
  iocLookupSchema,
} from '../../domain/api/iocs.js';
import { IOC_TYPES } from '../../domain/ioc.js';
import { iocCacheStats } from '../../../queues/use-cases/ioc-cache-stats.js';
import { lookupIoc } from '../../../queues/use-cases/lookup-ioc.js';
import { uncacheIoc } from '../../../queues/use-cases/uncache-ioc.js';
import { defineRoute, ok, problem } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';

/** The :type of an IOC route. */
export const iocTypeSchema = z.enum(IOC_TYPES);

/**
 * The path of an IOC route. Both are strings here: the use case checks the type and
 * normalizes the value, and names the bad part; the document shows the types.
 */
const indicatorParamsSchema = z.strictObject({
  type: z.string().meta({ description: 'The IOC type.', enum: [...IOC_TYPES] }),
  value: z.string(),
});

type IocDeps = {
  stores: Pick<ApiRouteDeps['stores'], 'hotStore' | 'iocCache' | 'metrics' | 'archivedIocs'>;
};
const route = defineRoute<IocDeps>();

/** The query of a look-up: `use_cache=false` reads the hot store directly (Python's `False` too). */
const lookupQuerySchema = z.strictObject({
  use_cache: z.enum(['true', 'false', 'True', 'False', '1', '0']).optional().meta({
    description:
      'false: skip the Redis cache (neither read nor written) and read the hot store, then the archive. Default true.',
  }),
});
const badInput = problem('Bad input; `errors` names each failing field');

/** IOC look-up (cache first, hot-store then archive fallback), cache invalidation and cache statistics. */
export const iocRouteTable = [
  route({
    operationId: 'lookupIoc',
    method: 'get',
    path: '/v1/iocs/{type}/{value}',
    summary:
      'Look an IOC up: cache first (unless `use_cache=false`), then the hot store, then the archive; `cached` and `tier` say which answered',
    access: 'read',
    params: indicatorParamsSchema,
    query: lookupQuerySchema,
    responses: {
      200: ok(iocLookupSchema, 'The IOC'),
      400: badInput,
      404: problem('Unknown IOC'),
    },
    handler: async ({ params, query }, { deps }) => ({
      status: 200,
      body: await lookupIoc(
        params,
        {
          cache: deps.stores.iocCache,
          hotStore: deps.stores.hotStore,
          metrics: deps.stores.metrics.cache,
          archive: deps.stores.archivedIocs,
        },
        { useCache: !['false', 'False', '0'].includes(query.use_cache ?? 'true') },
      ),
    }),
  }),
  route({
    operationId: 'uncacheIoc',
    method: 'delete',
    path: '/v1/cache/iocs/{type}/{value}',
    summary: 'Drop an IOC from the cache',
    access: 'ingest',
    params: indicatorParamsSchema,
    responses: { 200: ok(cacheInvalidationSchema, 'Whether it was cached'), 400: badInput },
    handler: async ({ params }, { deps }) => ({
      status: 200,
      body: await uncacheIoc(params, { cache: deps.stores.iocCache }),
    }),
  }),
  route({
    operationId: 'iocCacheStats',
    method: 'get',
    path: '/v1/cache/stats',
    summary: 'Cache hits, misses, hit rate and keys',
    access: 'read',
    responses: { 200: ok(cacheStatsSchema, 'Statistics') },
    handler: async (_input, { deps }) => ({
      status: 200,
      body: await iocCacheStats({ cache: deps.stores.iocCache }),
    }),
  }),
];
