import type { WatermarkRewound } from '../../src/domain/api/watermarks.js';
import {
  formatTimestamp,
  toRewindView,
  toWatermarkView,
  type RewindActor,
} from '../../src/domain/watermark.js';
import { ConflictError } from '../../src/errors/index.js';
import type { WatermarkStore } from '../../src/stores/postgres/watermark-store.js';
import { watermarkNotFound } from './watermark-not-found.js';

/**
 * Moves a source's success timestamp back (admins only) and writes the audit row. A
 * NotFoundError before the first run; a ConflictError naming `timestamp` unless it is
 * earlier than the current watermark.
 */
export async function rewindWatermark(
  input: { sourceId: string; timestamp: Date; reason: string; actor: RewindActor },
  deps: { watermarks: Pick<WatermarkStore, 'rewind'> },
): Promise<WatermarkRewound> {
  const { sourceId } = input;
  const result = await deps.watermarks.rewind(sourceId, input.timestamp, {
    ...input.actor,
    reason: input.reason,
  });
  if (result.outcome === 'not-found') throw watermarkNotFound(sourceId);
  if (result.outcome === 'not-earlier') {
    const at = result.watermark.last_successful_timestamp;
    throw new ConflictError(
      at === null
        ? `${sourceId} has no successful run to rewind from`
        : `${sourceId}'s watermark is at ${formatTimestamp(at)}; a rewind goes back only (use PUT to move forward)`,
      { source_id: sourceId },
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
  return { watermark: toWatermarkView(result.watermark), rewind: toRewindView(result.rewind) };
}
