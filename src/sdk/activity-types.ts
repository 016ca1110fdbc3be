// What the SDK's activity calls send and receive: the zod types the API validates and
// answers with (src/domain/activity.ts, src/domain/api/activities.ts).
import type { z } from 'zod';
import type { activitySchema, ActivityEventType, ActivitySource } from '../domain/activity.js';
import type {
  activityIngestFlowAcceptedSchema,
  activityIngestJobsAcceptedSchema,
  activityPageSchema,
  activityStatsSchema,
} from '../domain/api/activities.js';
import type { IngestWatermark } from './types.js';

export type { ActivityEventType, ActivitySource };

/** One activity event as a collector sends it (seed 000's NormalizedActivity). */
export type ActivityInput = z.input<typeof activitySchema>;

/** The body of `POST /v1/ingest/activities`; `source_id` (the collection) is needed with a watermark. */
export interface ActivityBatch {
  source_id?: string;
  activities: ActivityInput[];
  watermark?: IngestWatermark;
}

/** A batch with a watermark: one `watermark.commit` flow whose children are the inserts. */
export type ActivityIngestFlowAccepted = z.output<typeof activityIngestFlowAcceptedSchema>;

/** A batch without a watermark: plain `activities.insert` jobs. */
export type ActivityIngestJobsAccepted = z.output<typeof activityIngestJobsAcceptedSchema>;

/** The query of `GET /v1/activities`: a window (default the last 24 hours, at most 7 days). */
export interface ActivitySearch {
  source?: ActivitySource;
  event_type?: ActivityEventType;
  start_time?: Date | string;
  end_time?: Date | string;
  /** 1..1000, default 100. */
  limit?: number;
  /** The previous page's `next_cursor`. */
  cursor?: string;
}

/** `200` of `GET /v1/activities`. */
export type ActivityPage = z.output<typeof activityPageSchema>;

/** `200` of `GET /v1/activities/stats`. */
export type ActivityStats = z.output<typeof activityStatsSchema>;
