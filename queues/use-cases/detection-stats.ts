import { z } from 'zod';
import type { DetectionStatsView } from '../../src/domain/api/detections.js';
import { unboundedTimestampSchema } from '../../src/domain/timestamp.js';
import type { PostgresDetectionStore } from '../../src/stores/postgres/detection-store.js';

/** The query of `GET /v1/detections/stats`: an optional time window. */
export const detectionStatsQuerySchema = z.strictObject({
  since: unboundedTimestampSchema.optional().describe('Detections at or after this instant.'),
  until: unboundedTimestampSchema.optional().describe('Detections before this instant.'),
});

/** Counts of detections per severity and per status (every value listed, zero when none). */
export async function detectionStats(
  window: z.output<typeof detectionStatsQuerySchema>,
  deps: { detections: Pick<PostgresDetectionStore, 'stats'> },
): Promise<DetectionStatsView> {
  return deps.detections.stats(window);
}
