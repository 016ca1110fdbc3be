import type { WatermarkRewinds } from '../../src/domain/api/watermarks.js';
import { toRewindView } from '../../src/domain/watermark.js';
import type { WatermarkStore } from '../../src/stores/postgres/watermark-store.js';

/** A source's rewinds, newest first (who, when, from, to, why). */
export async function listWatermarkRewinds(
  input: { sourceId: string },
  deps: { watermarks: Pick<WatermarkStore, 'rewinds'> },
): Promise<WatermarkRewinds> {
  return {
    source_id: input.sourceId,
    rewinds: (await deps.watermarks.rewinds(input.sourceId)).map(toRewindView),
  };
}
