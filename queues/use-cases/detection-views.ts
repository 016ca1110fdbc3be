import type { DetectionStatusChangeView, DetectionView } from '../../src/domain/api/detections.js';
import type {
  DetectionStatusChange,
  StoredDetection,
} from '../../src/stores/postgres/detection-store.js';

/** A stored detection as the API shows it (instants as ISO 8601). */
export function detectionView(d: StoredDetection): DetectionView {
  return {
    ...d,
    timestamp: d.timestamp.toISOString(),
    first_seen: d.first_seen.toISOString(),
    last_seen: d.last_seen.toISOString(),
    created_at: d.created_at.toISOString(),
    updated_at: d.updated_at.toISOString(),
  };
}

/** A status-history row as the API shows it. */
export function statusChangeView(c: DetectionStatusChange): DetectionStatusChangeView {
  return {
    from: c.from_status,
    to: c.to_status,
    case_id: c.case_id,
    by: c.changed_by,
    at: c.changed_at.toISOString(),
    note: c.note,
  };
}
