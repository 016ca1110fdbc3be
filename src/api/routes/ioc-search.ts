import { Readable } from 'node:stream';
import { z } from 'zod';
import {
  iocDeletedSchema,
  iocSearchPageSchema,
  iocSearchQuerySchema,
  iocStatsSchema,
  poolStatsSchema,
  mispEventStreamSchema,
  stixBundleStreamSchema,
  stixExportQuerySchema,
} from '../../domain/api/ioc-search.js';
import { IOC_TYPES } from '../../domain/ioc.js';
import { deleteIoc } from '../../../queues/use-cases/delete-ioc.js';
import { exportMisp } from '../../../queues/use-cases/export-misp.js';
import { exportStix } from '../../../queues/use-cases/export-stix.js';
import { iocStats } from '../../../queues/use-cases/ioc-stats.js';
import { poolStats } from '../../../queues/use-cases/pool-stats.js';
import { searchIocs } from '../../../queues/use-cases/search-iocs.js';
import { defineRoute, ok, problem } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';

/** The path of `DELETE /v1/iocs/{type}/{value}`: strings; the use case names the bad part. */
const indicatorParamsSchema = z.strictObject({
  type: z.string().meta({ description: 'The IOC type.', enum: [...IOC_TYPES] }),
  value: z.string(),
});

type SearchDeps = {
  stores: Pick<
    ApiRouteDeps['stores'],
    'iocSearch' | 'hotStore' | 'iocCache' | 'settings' | 'log' | 'pg'
  >;
};
const route = defineRoute<SearchDeps>();
const badInput = problem('Bad input; `errors` names each failing field');

/** The media type of a STIX 2.1 bundle (STIX 2.1 §1.6). */
const STIX_MEDIA_TYPE = 'application/stix+json;version=2.1';

/** IOC search, statistics, delete and STIX export (seeds 000 and 004), and pool statistics. */
export const iocSearchRouteTable = [
  route({
    operationId: 'searchIocs',
    method: 'get',
    path: '/v1/iocs',
    summary: 'Search IOCs by type, threat type, confidence, source, tag, network and time; paged',
    access: 'read',
    query: iocSearchQuerySchema,
    responses: { 200: ok(iocSearchPageSchema, 'A page, in (type, value) order'), 400: badInput },
    handler: async ({ query }, { deps }) => ({
      status: 200,
      body: await searchIocs(query, { search: deps.stores.iocSearch }),
    }),
  }),
  route({
    operationId: 'iocStats',
    method: 'get',
    path: '/v1/iocs/stats',
    summary: 'IOC counts: total, per type, per threat type, per confidence bucket',
    access: 'read',
    responses: { 200: ok(iocStatsSchema, 'Counts') },
    handler: async (_input, { deps }) => ({
      status: 200,
      body: await iocStats({ search: deps.stores.iocSearch }),
    }),
  }),
  route({
    operationId: 'deleteIoc',
    method: 'delete',
    path: '/v1/iocs/{type}/{value}',
    summary: 'Delete an IOC from the hot store and the cache (admin only; logged)',
    access: 'admin',
    params: indicatorParamsSchema,
    responses: {
      200: ok(iocDeletedSchema, 'Deleted'),
      400: badInput,
      404: problem('Unknown IOC'),
    },
    handler: async ({ params }, { deps, caller }) => ({
      status: 200,
      body: await deleteIoc(params, {
        search: deps.stores.iocSearch,
        hotStore: deps.stores.hotStore,
        cache: deps.stores.iocCache,
        hotRule: deps.stores.settings.cache.hotRule,
        log: deps.stores.log,
        caller: caller?.name,
      }),
    }),
  }),
  route({
    operationId: 'exportStix',
    method: 'get',
    path: '/v1/export/stix',
    summary: 'Export matching IOCs as a STIX 2.1 bundle of indicators (streamed)',
    access: 'read',
    query: stixExportQuerySchema,
    responses: {
      200: ok(stixBundleStreamSchema, 'A STIX 2.1 bundle', STIX_MEDIA_TYPE),
      400: badInput,
    },
    handler: async ({ query }, { deps }) => ({
      status: 200,
      type: STIX_MEDIA_TYPE,
      body: Readable.from(await exportStix(query, { search: deps.stores.iocSearch })),
    }),
  }),
  route({
    operationId: 'exportMisp',
    method: 'get',
    path: '/v1/export/misp',
    summary: 'Export matching IOCs as one MISP event of attributes (streamed)',
    access: 'read',
    query: stixExportQuerySchema,
    responses: {
      200: ok(mispEventStreamSchema, 'A MISP event', 'application/json'),
      400: badInput,
    },
    handler: async ({ query }, { deps }) => ({
      status: 200,
      type: 'application/json',
      body: Readable.from(await exportMisp(query, { search: deps.stores.iocSearch })),
    }),
  }),
  route({
    operationId: 'poolStats',
    method: 'get',
    path: '/v1/stats/pools',
    summary: "This api process's PostgreSQL pool: size, open, idle, in use, waiting",
    access: 'read',
    responses: { 200: ok(poolStatsSchema, 'Pool statistics') },
    handler: (_input, { deps }) => ({ status: 200, body: poolStats(deps.stores.pg) }),
  }),
];
