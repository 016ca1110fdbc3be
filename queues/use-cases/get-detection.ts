import type { DetectionWithHistory } from '../../src/domain/api/detections.js';
import type { PostgresDetectionStore } from '../../src/stores/postgres/detection-store.js';
import { detectionView, statusChangeView } from './detection-views.js';
import { detectionNotFound } from './update-detection-status.js';

/** A detection and its status history (oldest first); a NotFoundError when there is none. */
export async function getDetection(
  input: { detectionId: string },
  deps: { detections: Pick<PostgresDetectionStore, 'get'> },
): Promise<DetectionWithHistory> {
  const found = await deps.detections.get(input.detectionId);
  if (found === undefined) throw detectionNotFound(input.detectionId);
  return {
    detection: detectionView(found.detection),
    history: found.history.map(statusChangeView),
  };
}
