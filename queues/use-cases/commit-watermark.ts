import {
  toWatermarkView,
  type WatermarkCommit,
  type WatermarkView,
} from '../../src/domain/watermark.js';
import type { WatermarkStore } from '../../src/stores/postgres/watermark-store.js';

/**
 * Records a collection run. Forward-only: an older success leaves the watermark as it is
 * (kept in the history as stale); going back is `rewindWatermark`. `created` on a source's
 * first run.
 */
export async function commitWatermark(
  input: { run: WatermarkCommit },
  deps: { watermarks: Pick<WatermarkStore, 'commit'> },
): Promise<{ created: boolean; watermark: WatermarkView }> {
  const result = await deps.watermarks.commit(input.run);
  return { created: result.created, watermark: toWatermarkView(result.watermark) };
}
