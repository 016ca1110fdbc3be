import { detectionSchema, type Detection } from '../../src/domain/detection.js';
import type { AnyJobDefinition } from '../../jobs/job-definition.js';
import type { Producer } from '../producer.js';
import type { IngestLimits } from './ingest-iocs.js';
import {
  enqueueRecordIngest,
  parseRecordIngest,
  recordIngestBodySchema,
  type ParsedRecordIngest,
  type RecordIngestResult,
  type RecordKind,
} from './ingest-records.js';

/** Detections (seed 000's store_detection) on the record-ingest path. */
export const DETECTION_KIND: RecordKind<'detections', Detection> = {
  field: 'detections',
  noun: 'detection',
  job: 'detections.insert',
  schema: detectionSchema,
};

/**
 * A detector's batch: the detections, and optionally the run it completes (a watermark of
 * `source_id`, committed once every detection is stored).
 */
export const detectionIngestBodySchema = (limits: IngestLimits) =>
  recordIngestBodySchema(DETECTION_KIND, limits);

/** A batch checked record by record and split into chunks. */
export type ParsedDetectionIngest = ParsedRecordIngest<Detection>;

/** What a detection ingest enqueued: plain detections.insert jobs, or a watermark.commit flow. */
export type DetectionIngestResult = RecordIngestResult<'detections'>;

/** Validates a batch as a whole (`detections.3.severity` names a bad record); nothing is enqueued then. */
export const parseDetectionIngest = (input: unknown, limits: IngestLimits): ParsedDetectionIngest =>
  parseRecordIngest(DETECTION_KIND, input, limits);

/** Enqueues a parsed batch (see enqueueRecordIngest). */
export const enqueueDetectionIngest = (
  producer: Producer<readonly AnyJobDefinition[]>,
  batch: ParsedDetectionIngest,
  scoped: { key: string; keyScope: string },
): Promise<DetectionIngestResult> => enqueueRecordIngest(producer, DETECTION_KIND, batch, scoped);
