import { Router } from 'express';
import { z } from 'zod';
import { sourceIdSchema, toWatermarkView, watermarkPutBodySchema } from '../../domain/watermark.js';
import { ValidationError } from '../../errors/index.js';
import type { WatermarkStore } from '../../stores/watermark-store.js';
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

/** `GET/PUT /api/v1/watermarks/{source_id}`, exactly as seed 001 documents them. */
export function watermarkRoutes(store: Pick<WatermarkStore, 'get' | 'commit'>): Router {
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

  router.put('/api/v1/watermarks/:source_id', requireScope('ingest'), async (req, res) => {
    const sourceId = sourceIdParamSchema.safeParse(req.params);
    const body = watermarkPutBodySchema.safeParse(req.body ?? {});
    if (!sourceId.success || !body.success) {
      // One answer names every failing field, path and body alike.
      const issues = [
        ...(sourceId.success ? [] : ValidationError.fromZod(sourceId.error).issues),
        ...(body.success ? [] : ValidationError.fromZod(body.error).issues),
      ];
      throw new ValidationError(issues);
    }
    const result = await store.commit({ ...body.data, source_id: sourceId.data.source_id });
    res.status(result.created ? 201 : 200).json(toWatermarkView(result.watermark));
  });

  return router;
}
