import { activitySchema, type Activity } from '../../src/domain/activity.js';
import type { AnyJobDefinition } from '../../jobs/job-definition.js';
import type { Producer } from '../producer.js';
import type { IngestLimits } from './ingest-iocs.js';
import {
  enqueueRecordIngest,
  ingestRecords,
  parseRecordIngest,
  recordIngestBodySchema,
  type IngestRecordsInput,
  type ParsedRecordIngest,
  type RecordIngestResult,
  type RecordKind,
} from './ingest-records.js';

/** Activity events (seed 000's store_activities_batch) on the record-ingest path. */
export const ACTIVITY_KIND: RecordKind<'activities', Activity> = {
  field: 'activities',
  noun: 'activity',
  job: 'activities.insert',
  schema: activitySchema,
};

/** An activity batch as a collector sends it; each record is then checked by activitySchema. */
export const activityIngestBodySchema = (limits: IngestLimits) =>
  recordIngestBodySchema(ACTIVITY_KIND, limits);

/** A batch checked record by record and split into chunks. */
export type ParsedActivityIngest = ParsedRecordIngest<Activity>;

/** What an activity ingest enqueued: activities.insert jobs, or a watermark.commit flow over them. */
export type ActivityIngestResult = RecordIngestResult<'activities'>;

/** An in-process activity ingest: the API's body, and the key the API takes from a header. */
export type IngestActivitiesInput = IngestRecordsInput<'activities'>;

/** Validates a batch as a whole (`activities.3.source` names a bad record); nothing is enqueued then. */
export const parseActivityIngest = (input: unknown, limits: IngestLimits): ParsedActivityIngest =>
  parseRecordIngest(ACTIVITY_KIND, input, limits);

/** Enqueues a parsed batch (see enqueueRecordIngest). */
export const enqueueActivityIngest = (
  producer: Producer<readonly AnyJobDefinition[]>,
  batch: ParsedActivityIngest,
  scoped: { key: string; keyScope: string },
): Promise<ActivityIngestResult> => enqueueRecordIngest(producer, ACTIVITY_KIND, batch, scoped);

/** Validates, keys and enqueues in one call, as the in-process producer does. */
export const ingestActivities = (
  producer: Producer<readonly AnyJobDefinition[]>,
  limits: IngestLimits,
  input: IngestActivitiesInput,
): Promise<ActivityIngestResult> => ingestRecords(producer, ACTIVITY_KIND, limits, input);
