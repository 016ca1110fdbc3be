import { z } from 'zod';
import type { DetectionStatusChanged } from '../../src/domain/api/detections.js';
import {
  caseIdSchema,
  DETECTION_STATUSES,
  DETECTION_TRANSITIONS,
  statusNoteSchema,
  type DetectionStatus,
} from '../../src/domain/detection.js';
import { ConflictError, NotFoundError } from '../../src/errors/index.js';
import type { PostgresDetectionStore } from '../../src/stores/postgres/detection-store.js';
import { detectionView, statusChangeView } from './detection-views.js';

/** The body of `POST /v1/detections/{detection_id}/status` (seed 000's update_detection_status). */
export const detectionStatusBodySchema = z.strictObject({
  status: z.enum(DETECTION_STATUSES),
  case_id: caseIdSchema.optional().describe('Kept when left out.'),
  note: statusNoteSchema.optional(),
});

/** A detection that is not stored: 404 naming the id. */
export function detectionNotFound(detectionId: string): NotFoundError {
  return new NotFoundError(`no detection "${detectionId}"`, { detection_id: detectionId }, [
    { path: 'detection_id', message: 'no such detection' },
  ]);
}

/**
 * Moves a detection along its workflow (DETECTION_TRANSITIONS), recording who, when, from,
 * to and the case id. Idempotent: asking for the status it has, with its case id or none,
 * changes nothing and answers `changed: false`; a move the workflow refuses is a 409 naming
 * both statuses. Racing changes are serialised by a row lock: the later one sees the
 * earlier's status.
 */
export async function updateDetectionStatus(
  input: {
    detectionId: string;
    status: DetectionStatus;
    caseId?: string | undefined;
    note?: string | undefined;
    by: string;
  },
  deps: { detections: Pick<PostgresDetectionStore, 'changeStatus'> },
): Promise<DetectionStatusChanged> {
  const result = await deps.detections.changeStatus(input);
  switch (result.outcome) {
    case 'not-found':
      throw detectionNotFound(input.detectionId);
    case 'refused': {
      const from = result.detection.status;
      const allowed = DETECTION_TRANSITIONS[from];
      throw new ConflictError(
        `detection "${input.detectionId}" cannot move from "${from}" to "${input.status}"`,
        { detection_id: input.detectionId, from, to: input.status },
        [
          {
            path: 'status',
            message: `"${from}" → "${input.status}" is not allowed; from "${from}": ${allowed.map((s) => `"${s}"`).join(', ')}`,
          },
        ],
      );
    }
    case 'unchanged':
      return { changed: false, detection: detectionView(result.detection) };
    case 'changed':
      return {
        changed: true,
        detection: detectionView(result.detection),
        change: statusChangeView(result.change),
      };
  }
}
