// What the SDK sends and receives. Inputs are the zod input types of the job definitions and
// domain schemas the API validates with, so a payload the API would refuse does not compile;
// answers are the output types of the response schemas the API documents (src/domain/api).
import type { z } from 'zod';
import type { InputOf } from '../../jobs/job-definition.js';
import type { DefinitionNamed, JobNameOf } from '../../jobs/job-registry.js';
import type { JOB_DEFINITIONS } from '../../jobs/registry.js';
import type { ArtifactKind, artifactTargetSchema } from '../domain/artifact.js';
import type { IocType, iocSchema } from '../domain/ioc.js';
import type { watermarkPutBodySchema } from '../domain/watermark.js';
import type {
  artifactListSchema,
  artifactStatsSchema,
  presignedUrlSchema,
  uploadAcceptedSchema,
} from '../domain/api/artifacts.js';
import type { configEntryViewSchema, configListSchema } from '../domain/api/config-entries.js';
import type { serviceStatusSchema } from '../domain/api/status.js';
import type { artifactDeletedSchema } from '../domain/api/artifact-objects.js';
import type { ingestFlowAcceptedSchema, ingestJobsAcceptedSchema } from '../domain/api/ingest.js';
import type {
  cacheInvalidationSchema,
  cacheStatsSchema,
  iocLookupSchema,
  iocViewSchema,
} from '../domain/api/iocs.js';
import type {
  iocDeletedSchema,
  iocSearchPageSchema,
  iocStatsSchema,
  poolStatsSchema,
} from '../domain/api/ioc-search.js';
import type {
  jobAcceptedSchema,
  jobCancelSchema,
  jobRefSchema,
  jobsAcceptedSchema,
  jobStateSchema,
  jobStatusSchema,
} from '../domain/api/jobs.js';
import type { jobPageSchema, jobRemovedSchema } from '../domain/api/job-search.js';
import type {
  watermarkRewindsSchema,
  watermarkRewoundSchema,
  watermarkViewSchema,
} from '../domain/api/watermarks.js';

import type { usageQuerySchema, usageReportSchema } from '../domain/api/usage.js';

export type { ArtifactKind, IocType };

/** `200` of `GET /v1/usage`: bytes, rows and jobs per tenant and UTC day, newest day first. */
export type UsageReport = z.output<typeof usageReportSchema>;

/** What `usage()` asks for: how many days (7 by default), and (admin only) one tenant. */
export type UsageQuery = Partial<z.input<typeof usageQuerySchema>>;

/** `200` of `GET /api/v1/watermarks/{source_id}` (seed 001's fields, plus the last error). */
export type WatermarkView = z.output<typeof watermarkViewSchema>;

/** `200` of `POST /api/v1/watermarks/{source_id}/rewind`: the watermark and its audit row. */
export type WatermarkRewound = z.output<typeof watermarkRewoundSchema>;

/** `200` of `GET /api/v1/watermarks/{source_id}/rewinds`. */
export type WatermarkRewinds = z.output<typeof watermarkRewindsSchema>;

type Definitions = typeof JOB_DEFINITIONS;

/** The name of every job type Stowage runs (`iocs.insert`, `artifact.upload`, …). */
export type JobName = JobNameOf<Definitions>;

/** The payload a job type accepts, as the API validates it. */
export type JobPayload<N extends JobName> = InputOf<DefinitionNamed<Definitions, N>>;

/** A job the api names: its id, type and queue. */
export type JobRef = z.output<typeof jobRefSchema>;

/** `202` of `POST /v1/jobs/{type}` (and of `POST /v1/maintenance/{job}`): the job and where to poll it. */
export type JobAccepted = z.output<typeof jobAcceptedSchema>;

/** `202` of `POST /v1/jobs/{type}/bulk`: one job per payload, in order. */
export type JobsAccepted = z.output<typeof jobsAcceptedSchema>;

/** @deprecated Use `JobAccepted` (the name also meant the producer's job, `queues`' `EnqueuedJob`). */
export type EnqueuedJob = JobAccepted;

/** @deprecated Use `JobsAccepted`. */
export type EnqueuedJobs = JobsAccepted;

/** BullMQ's states, and `waiting-children` for a flow parent whose children still run. */
export type JobState = z.output<typeof jobStateSchema>;

/** `GET /v1/jobs/{id}`. */
export type JobStatus = z.output<typeof jobStatusSchema>;

/** `POST /v1/jobs/{id}/cancel`: `removed`, `cancelling` (it runs; it will read `cancelled`) or `cancelled`. */
export type JobCancelled = z.output<typeof jobCancelSchema>;

/** One IOC of a collector batch; `source` defaults to the batch's `source_id`. */
export type IngestIoc = Omit<z.input<typeof iocSchema>, 'source'> & { source?: string };

/** The run a batch completes: the watermark moves here once every IOC is stored. */
export interface IngestWatermark {
  timestamp: Date | string;
  /** Defaults to the number of IOCs in the batch. */
  records_collected?: number;
}

/** The body of `POST /v1/ingest/iocs`. */
export interface IngestBatch {
  source_id: string;
  iocs: IngestIoc[];
  watermark?: IngestWatermark;
}

/** A batch with a watermark: one `watermark.commit` flow whose children are the inserts. */
export type IngestFlowAccepted = z.output<typeof ingestFlowAcceptedSchema>;

/** A batch without a watermark: plain `iocs.insert` jobs. */
export type IngestJobsAccepted = z.output<typeof ingestJobsAcceptedSchema>;

/** Where an artifact goes; the key follows from it (`samples/{request_id}/{filename}`, …). */
export type ArtifactTargetInput = WithNumericVersion<z.input<typeof artifactTargetSchema>>;

// The schema coerces `version` from a query string, so its input type is `unknown`; a caller
// of the SDK gives a number.
type WithNumericVersion<T> = T extends { kind: 'ta-bundle' }
  ? Omit<T, 'version'> & { version: number }
  : T;

/** `202` of `POST /v1/artifacts/{kind}`: the spooled upload and its `artifact.upload` job. */
export type UploadAccepted = z.output<typeof uploadAcceptedSchema>;

/** `200` of `GET /v1/artifacts/{kind}/{id}`: the artifacts of one request or run. */
export type ArtifactList = z.output<typeof artifactListSchema>;

/** `200` of `GET /v1/artifacts/stats`: objects, bytes, oldest and newest per kind. */
export type ArtifactStats = z.output<typeof artifactStatsSchema>;

/** `200` of `POST /v1/artifacts/{kind}/presign`: the URL and when it expires. */
export type PresignedUrl = z.output<typeof presignedUrlSchema>;

/** `200` of `DELETE /v1/cache/iocs/{type}/{value}`: whether the IOC was cached. */
export type CacheInvalidation = z.output<typeof cacheInvalidationSchema>;

/** `200` of `DELETE /v1/artifacts/{kind}/objects/{key}`: what went (`deleted: false`: nothing was there). */
export type ArtifactDeleted = z.output<typeof artifactDeletedSchema>;

/** The body of `PUT /api/v1/watermarks/{source_id}`: one collection run. */
export type WatermarkRun = z.input<typeof watermarkPutBodySchema>;

/** An IOC as stored: every sighting merged. */
export type IocView = z.output<typeof iocViewSchema>;

/** `GET /v1/iocs/{type}/{value}`: whether the Redis cache answered, and the IOC. */
export type IocLookup = z.output<typeof iocLookupSchema>;

/** `200` of `GET /v1/config/{key}` and of `PUT`: one version of a configuration key. */
export type ConfigEntryView = z.output<typeof configEntryViewSchema>;

/** `200` of `GET /v1/config`: a page of keys with their current versions. */
export type ConfigList = z.output<typeof configListSchema>;

/** `200` of `GET /status`: seed 001's `status`, then each backend and each queue. */
export type ServiceStatus = z.output<typeof serviceStatusSchema>;

/** `200` of `GET /v1/cache/stats`: Stowage's names and seed 000's (`hit_rate` a percent). */
export type CacheStats = z.output<typeof cacheStatsSchema>;
/** What `GET /v1/iocs` and `GET /v1/export/stix` filter on, every field optional, all ANDed. */
export interface IocSearchFilter {
  type?: IocType;
  /** The latest sighting's threat type (seed 000's `threat_type`). */
  threat_type?: string;
  /** Confidence at or above, 0..1 (seed 000's `min_confidence`; a score range with max). */
  min_confidence?: number;
  max_confidence?: number;
  source?: string;
  tag?: string;
  /** IPs inside a network: `10.0.0.0/8`, `2001:db8::/32`. */
  cidr?: string;
  /** last_seen at or after. */
  seen_since?: Date | string;
  /** last_seen before. */
  seen_until?: Date | string;
}

/** `200` of `GET /v1/iocs`: a page in (type, value) order and the cursor of the next. */
export type IocSearchPage = z.output<typeof iocSearchPageSchema>;

/** `200` of `GET /v1/iocs/stats`: counts per type, threat type and confidence bucket. */
export type IocStats = z.output<typeof iocStatsSchema>;

/** `200` of `DELETE /v1/iocs/{type}/{value}`. */
export type IocDeleted = z.output<typeof iocDeletedSchema>;

/** `200` of `GET /v1/stats/pools`. */
export type PoolStats = z.output<typeof poolStatsSchema>;

/** What `listJobs` searches by; every field narrows the search (`GET /v1/jobs`). */
export interface JobSearchFilter {
  type?: JobName;
  state?: Exclude<JobState, 'unknown'>;
  /** A key without admin sees only its own tenant's jobs. */
  tenant?: string;
  /** `source:<id>`, `request:<id>`, `artifact:<key>`, `ioc:<value>`. */
  tag?: string;
  /** Jobs enqueued at or after. */
  since?: Date | string;
  limit?: number;
  cursor?: string;
}
/** A page of `GET /v1/jobs`, newest first. */
export type JobPage = z.output<typeof jobPageSchema>;
/** The answer of `DELETE /v1/jobs/{id}`. */
export type JobRemoved = z.output<typeof jobRemovedSchema>;
