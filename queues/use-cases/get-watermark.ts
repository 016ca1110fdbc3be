import { toWatermarkView, type WatermarkView } from '../../src/domain/watermark.js';
import type { WatermarkStore } from '../../src/stores/postgres/watermark-store.js';
import { watermarkNotFound } from './watermark-not-found.js';

/** A source's watermark; a NotFoundError naming `source_id` before its first run. */
export async function getWatermark(
  input: { sourceId: string },
  deps: { watermarks: Pick<WatermarkStore, 'get'> },
): Promise<WatermarkView> {
  const watermark = await deps.watermarks.get(input.sourceId);
  if (!watermark) throw watermarkNotFound(input.sourceId);
  return toWatermarkView(watermark);
}
