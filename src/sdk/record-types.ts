// What the SDK's record calls send and receive (seed 002's StorageRecord): the zod types the
// API validates and answers with (src/domain/storage-record.ts, src/domain/api/records.ts).
import type { z } from 'zod';
import type {
  recordIngestFlowAcceptedSchema,
  recordIngestJobsAcceptedSchema,
  recordReadSchema,
} from '../domain/api/records.js';
import type { storageRecordSchema } from '../domain/storage-record.js';
import type { IngestWatermark } from './types.js';

/** One record as an application sends it (seed 002's StorageRecord); `metadata` defaults to {}. */
export type StorageRecordInput = z.input<typeof storageRecordSchema>;

/** The body of `POST /v1/records`; `source_id` (the collection) is needed with a watermark. */
export interface RecordBatch {
  source_id?: string;
  records: StorageRecordInput[];
  watermark?: IngestWatermark;
}

/** A batch with a watermark: one `watermark.commit` flow whose children are the stores. */
export type RecordIngestFlowAccepted = z.output<typeof recordIngestFlowAcceptedSchema>;

/** A batch without a watermark: plain `records.insert` jobs. */
export type RecordIngestJobsAccepted = z.output<typeof recordIngestJobsAcceptedSchema>;

/** `storeRecord`'s answer: the record's id (seed 002's store_record return value) and its job. */
export type RecordStoreAccepted = RecordIngestJobsAccepted & { id: string };

/** `200` of `GET /v1/records/{id}`: the record and the tier it came from (`hot` or `archive`). */
export type RecordRead = z.output<typeof recordReadSchema>;
