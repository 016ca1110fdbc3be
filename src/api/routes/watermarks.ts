import type { Router } from 'express';
import { z } from 'zod';
import {
  watermarkRewindsSchema,
  watermarkRewoundSchema,
  watermarkViewSchema,
} from '../../domain/api/watermarks.js';
import {
  sourceIdSchema,
  watermarkPutBodySchema,
  watermarkRewindBodySchema,
} from '../../domain/watermark.js';
import { commitWatermark } from '../../../queues/use-cases/commit-watermark.js';
import { getWatermark } from '../../../queues/use-cases/get-watermark.js';
import { listWatermarkRewinds } from '../../../queues/use-cases/list-watermark-rewinds.js';
import { rewindWatermark } from '../../../queues/use-cases/rewind-watermark.js';
import { routerFor } from '../express-adapter.js';
import { defineRoute, ok, problem } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';

/** The path parameters of the watermark routes. */
export const sourceIdParamSchema = z.strictObject({
  source_id: sourceIdSchema.describe('The collector source.'),
});

type WatermarkDeps = { stores: Pick<ApiRouteDeps['stores'], 'watermarks'> };
const route = defineRoute<WatermarkDeps>();
const badInput = problem('Bad input; `errors` names each failing field');
const noRun = problem('No run recorded yet');

/**
 * `GET/PUT /api/v1/watermarks/{source_id}`, exactly as seed 001 documents them, and the
 * admin's explicit rewind with its audit trail (`POST …/rewind`, `GET …/rewinds`).
 */
export const watermarkRouteTable = [
  route({
    operationId: 'getWatermark',
    method: 'get',
    path: '/api/v1/watermarks/{source_id}',
    summary: "A source's watermark (seed 001); 404 means first collection",
    access: 'read',
    params: sourceIdParamSchema,
    responses: { 200: ok(watermarkViewSchema, 'The watermark'), 400: badInput, 404: noRun },
    handler: async ({ params }, { deps }) => ({
      status: 200,
      body: await getWatermark({ sourceId: params.source_id }, deps.stores),
    }),
  }),
  // Forward-only: an older success answers 200 with the watermark unchanged (recorded in
  // the history as stale). Going back is the rewind below, never a flag on this route.
  route({
    operationId: 'commitWatermark',
    method: 'put',
    path: '/api/v1/watermarks/{source_id}',
    summary: 'Record a collection run; the success timestamp only moves forward',
    access: 'ingest',
    params: sourceIdParamSchema,
    body: watermarkPutBodySchema,
    bodyDescription: 'The run',
    openapi: { components: { WatermarkPutBody: watermarkPutBodySchema } },
    responses: {
      200: ok(watermarkViewSchema, 'The watermark after the commit'),
      201: ok(watermarkViewSchema, 'The first watermark of the source'),
      400: badInput,
    },
    handler: async ({ params, body }, { deps }) => {
      const result = await commitWatermark(
        { run: { ...body, source_id: params.source_id } },
        deps.stores,
      );
      return { status: result.created ? 201 : 200, body: result.watermark };
    },
  }),
  // A separate route with its own scope rather than a flag on PUT: the seed's PUT contract
  // stays as it is, and an ingest key (every collector holds one) can never reach a rewind.
  route({
    operationId: 'rewindWatermark',
    method: 'post',
    path: '/api/v1/watermarks/{source_id}/rewind',
    summary:
      'Move a watermark back to an earlier success timestamp (admin only); writes an audit row',
    access: 'admin',
    params: sourceIdParamSchema,
    body: watermarkRewindBodySchema,
    bodyDescription: 'The earlier timestamp and the reason',
    openapi: { components: { WatermarkRewindBody: watermarkRewindBodySchema } },
    responses: {
      200: ok(watermarkRewoundSchema, 'The watermark after the rewind and its audit row'),
      400: badInput,
      404: noRun,
      409: problem('The timestamp is not before the current watermark'),
    },
    handler: async ({ params, body }, { caller, deps }) => ({
      status: 200,
      body: await rewindWatermark(
        {
          sourceId: params.source_id,
          timestamp: body.timestamp,
          reason: body.reason,
          actor: { by: caller?.name ?? 'unknown', via: 'api' },
        },
        deps.stores,
      ),
    }),
  }),
  route({
    operationId: 'listWatermarkRewinds',
    method: 'get',
    path: '/api/v1/watermarks/{source_id}/rewinds',
    summary: "A source's rewinds, newest first (who, when, from, to, why)",
    access: 'read',
    params: sourceIdParamSchema,
    responses: { 200: ok(watermarkRewindsSchema, 'The audit rows'), 400: badInput },
    handler: async ({ params }, { deps }) => ({
      status: 200,
      body: await listWatermarkRewinds({ sourceId: params.source_id }, deps.stores),
    }),
  }),
];

/** The watermark routes as an express router over one store (for a test or a small app). */
export function watermarkRoutes(store: WatermarkDeps['stores']['watermarks']): Router {
  return routerFor(watermarkRouteTable, { stores: { watermarks: store } });
}
