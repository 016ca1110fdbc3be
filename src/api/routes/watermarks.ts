import { Router } from 'express';
import { z } from 'zod';
import {
  formatTimestamp,
  sourceIdSchema,
  toRewindView,
  toWatermarkView,
  watermarkPutBodySchema,
  watermarkRewindBodySchema,
} from '../../domain/watermark.js';
import { ValidationError } from '../../errors/index.js';
import type { WatermarkStore } from '../../stores/postgres/watermark-store.js';
import { requireScope } from '../auth.js';
import { HttpProblem } from '../problem.js';

/** The path parameters of the watermark routes. */
export const sourceIdParamSchema = z.strictObject({ source_id: sourceIdSchema });

/** The source id of the path, or a 400 naming `source_id`. */
function readSourceId(params: unknown): string {
  const parsed = sourceIdParamSchema.safeParse(params);
  if (!parsed.success) throw ValidationError.fromZod(parsed.error);
  return parsed.data.source_id;
}

/** Reads path and body together, so one 400 names every failing field. */
function readPathAndBody<T>(
  params: unknown,
  rawBody: unknown,
  schema: z.ZodType<T>,
): { sourceId: string; body: T } {
  const sourceId = sourceIdParamSchema.safeParse(params);
  const body = schema.safeParse(rawBody ?? {});
  if (!sourceId.success || !body.success) {
    throw new ValidationError([
      ...(sourceId.success ? [] : ValidationError.fromZod(sourceId.error).issues),
      ...(body.success ? [] : ValidationError.fromZod(body.error).issues),
    ]);
  }
  return { sourceId: sourceId.data.source_id, body: body.data };
}

/**
 * `GET/PUT /api/v1/watermarks/{source_id}`, exactly as seed 001 documents them, and the
 * admin's explicit rewind with its audit trail (`POST …/rewind`, `GET …/rewinds`).
 */
export function watermarkRoutes(
  store: Pick<WatermarkStore, 'get' | 'commit' | 'rewind' | 'rewinds'>,
): Router {
  const router = Router();

  router.get('/api/v1/watermarks/:source_id', requireScope('read'), async (req, res) => {
    const sourceId = readSourceId(req.params);
    const watermark = await store.get(sourceId);
    if (!watermark) {
      // The seed's collectors read 404 as "first collection" and use their default lookback.
      throw new HttpProblem(404, 'not_found', `no watermark for source "${sourceId}" yet`, [
        { path: 'source_id', message: 'no run has been recorded for this source' },
      ]);
    }
    res.json(toWatermarkView(watermark));
  });

  // Forward-only: an older success answers 200 with the watermark unchanged (recorded in
  // the history as stale). Going back is the rewind below, never a flag on this route.
  router.put('/api/v1/watermarks/:source_id', requireScope('ingest'), async (req, res) => {
    const { sourceId, body } = readPathAndBody(req.params, req.body, watermarkPutBodySchema);
    const result = await store.commit({ ...body, source_id: sourceId });
    res.status(result.created ? 201 : 200).json(toWatermarkView(result.watermark));
  });

  // A separate route with its own scope rather than a flag on PUT: the seed's PUT contract
  // stays as it is, and an ingest key (every collector holds one) can never reach a rewind.
  router.post('/api/v1/watermarks/:source_id/rewind', requireScope('admin'), async (req, res) => {
    const { sourceId, body } = readPathAndBody(req.params, req.body, watermarkRewindBodySchema);
    const result = await store.rewind(sourceId, body.timestamp, {
      by: res.locals.caller?.name ?? 'unknown',
      via: 'api',
      reason: body.reason,
    });
    if (result.outcome === 'not-found') {
      throw new HttpProblem(404, 'not_found', `no watermark for source "${sourceId}" yet`, [
        { path: 'source_id', message: 'no run has been recorded for this source' },
      ]);
    }
    if (result.outcome === 'not-earlier') {
      const at = result.watermark.last_successful_timestamp;
      throw new HttpProblem(
        409,
        'conflict',
        at === null
          ? `${sourceId} has no successful run to rewind from`
          : `${sourceId}'s watermark is at ${formatTimestamp(at)}; a rewind goes back only (use PUT to move forward)`,
        [
          {
            path: 'timestamp',
            message:
              at === null
                ? 'the source has no success timestamp yet'
                : `must be before the current watermark ${formatTimestamp(at)}`,
          },
        ],
      );
    }
    res.json({
      watermark: toWatermarkView(result.watermark),
      rewind: toRewindView(result.rewind),
    });
  });

  router.get('/api/v1/watermarks/:source_id/rewinds', requireScope('read'), async (req, res) => {
    const sourceId = readSourceId(req.params);
    res.json({ source_id: sourceId, rewinds: (await store.rewinds(sourceId)).map(toRewindView) });
  });

  return router;
}
