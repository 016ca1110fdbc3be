import {
  canonicalRecord,
  storageRecordSchema,
  type StorageRecord,
} from '../../src/domain/storage-record.js';
import type { AnyJobDefinition } from '../../jobs/job-definition.js';
import type { Producer } from '../producer.js';
import type { IngestLimits } from './ingest-iocs.js';
import {
  ingestRecords,
  type IngestRecordsInput,
  type RecordIngestResult,
  type RecordKind,
} from './ingest-records.js';

/** Seed 002's records (StorageManager.store_record) on the record-ingest path. */
export const STORAGE_RECORD_KIND: RecordKind<'records', StorageRecord> = {
  field: 'records',
  noun: 'record',
  job: 'records.insert',
  schema: storageRecordSchema,
  // A stored id is never rewritten: two versions of one id in a request are a caller's error.
  identity: {
    field: 'id',
    of: (r) => ({ key: r.id, content: canonicalRecord(r).line }),
  },
};

/** What a record store enqueued: records.insert jobs, or a watermark.commit flow over them. */
export type StorageRecordIngestResult = RecordIngestResult<'records'>;

/** Validates, keys and enqueues in one call, as the in-process producer does. */
export const ingestStorageRecords = (
  producer: Producer<readonly AnyJobDefinition[]>,
  limits: IngestLimits,
  input: IngestRecordsInput<'records'>,
): Promise<StorageRecordIngestResult> =>
  ingestRecords(producer, STORAGE_RECORD_KIND, limits, input);
