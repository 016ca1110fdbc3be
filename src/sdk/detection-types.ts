// What the SDK's detection methods send and receive (seed 000's Detection and its workflow).
import type { z } from 'zod';
import type {
  DetectionIngestAccepted,
  DetectionPage,
  DetectionStatsView,
  DetectionStatusChanged,
  DetectionWithHistory,
  detectionIngestFlowSchema,
  detectionIngestJobsSchema,
} from '../domain/api/detections.js';
import type { DetectionStatus, detectionSchema, Severity } from '../domain/detection.js';

export type { DetectionStatus, Severity };
export type {
  DetectionIngestAccepted,
  DetectionPage,
  DetectionStatsView as DetectionStats,
  DetectionStatusChanged,
  DetectionWithHistory,
};

/** One detection as a detector sends it; `status` defaults to `New` on a first write. */
export type DetectionInput = z.input<typeof detectionSchema>;

/** The body of `POST /v1/ingest/detections`. */
export interface DetectionBatch {
  detections: DetectionInput[];
  /** Needed with a watermark: the source whose run the batch completes. */
  source_id?: string;
  watermark?: { timestamp: Date | string; records_collected?: number };
}

/** A batch with a watermark: one `watermark.commit` flow over the inserts. */
export type DetectionIngestFlow = z.output<typeof detectionIngestFlowSchema>;

/** A batch without a watermark: plain `detections.insert` jobs. */
export type DetectionIngestJobs = z.output<typeof detectionIngestJobsSchema>;

/** The filters of `GET /v1/detections` (seed 000's search_detections, and more). */
export interface DetectionSearch {
  severity?: Severity;
  status?: DetectionStatus;
  since?: Date | string;
  until?: Date | string;
  ioc_value?: string;
  /** Page size, 1..1000 (default 50). */
  limit?: number;
  /** `next_cursor` of the previous page. */
  cursor?: string;
}

/** The body of `POST /v1/detections/{detection_id}/status`. */
export interface DetectionStatusUpdate {
  status: DetectionStatus;
  /** The case the detection is tracked in (kept when left out). */
  case_id?: string;
  note?: string;
}
