import { toWatermarkView, type WatermarkView } from '../../src/domain/watermark.js';
import type { WatermarkStore } from '../../src/stores/postgres/watermark-store.js';

/** Every source's watermark, by source id. */
export async function listWatermarks(deps: {
  watermarks: Pick<WatermarkStore, 'list'>;
}): Promise<WatermarkView[]> {
  return (await deps.watermarks.list()).map(toWatermarkView);
}
