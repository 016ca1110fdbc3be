// What the SDK sends and receives. Inputs are the zod input types of the job definitions and
// domain schemas the API validates with, so a payload the API would refuse does not compile.
import type { z } from 'zod';
import type { InputOf } from '../../jobs/job-definition.js';
import type { DefinitionNamed, JobNameOf } from '../../jobs/job-registry.js';
import type { JOB_DEFINITIONS } from '../../jobs/registry.js';
import type { ArtifactKind, artifactTargetSchema } from '../domain/artifact.js';
import type { IocType, iocSchema } from '../domain/ioc.js';
import type { WatermarkView, watermarkPutBodySchema } from '../domain/watermark.js';

export type { ArtifactKind, IocType, WatermarkView };

type Definitions = typeof JOB_DEFINITIONS;

/** The name of every job type Stowage runs (`iocs.insert`, `artifact.upload`, …). */
export type JobName = JobNameOf<Definitions>;

/** The payload a job type accepts, as the API validates it. */
export type JobPayload<N extends JobName> = InputOf<DefinitionNamed<Definitions, N>>;

/** `202` of `POST /v1/jobs/{type}`. */
export interface EnqueuedJob {
  id: string;
  type: string;
  queue: string;
  status_url: string;
}

/** `202` of `POST /v1/jobs/{type}/bulk`: one job per payload, in order. */
export interface EnqueuedJobs {
  jobs: { id: string; type: string; queue: string }[];
}

/** BullMQ's states, and `waiting-children` for a flow parent whose children still run. */
export type JobState =
  | 'waiting'
  | 'waiting-children'
  | 'delayed'
  | 'prioritized'
  | 'active'
  | 'completed'
  | 'failed'
  | 'unknown';

/** `GET /v1/jobs/{id}`. */
export interface JobStatus {
  id: string;
  type: string;
  queue: string;
  state: JobState;
  progress: number | Record<string, unknown>;
  attempts_made: number;
  max_attempts: number;
  return_value: unknown;
  failed_reason: string | null;
  created_at: string;
  processed_at: string | null;
  finished_at: string | null;
  /** Counts of a flow parent's children by state. */
  children?: Record<string, number>;
  payload: Record<string, unknown>;
}

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
export interface IngestFlowAccepted {
  id: string;
  type: 'watermark.commit';
  source_id: string;
  iocs: number;
  chunks: number;
  replayed: boolean;
  children?: string[];
  status_url: string;
}

/** A batch without a watermark: plain `iocs.insert` jobs. */
export interface IngestJobsAccepted {
  source_id: string;
  iocs: number;
  jobs: { id: string; type: string }[];
}

/** Where an artifact goes; the key follows from it (`samples/{request_id}/{filename}`, …). */
export type ArtifactTargetInput = WithNumericVersion<z.input<typeof artifactTargetSchema>>;

// The schema coerces `version` from a query string, so its input type is `unknown`; a caller
// of the SDK gives a number.
type WithNumericVersion<T> = T extends { kind: 'ta-bundle' }
  ? Omit<T, 'version'> & { version: number }
  : T;

/** `202` of `POST /v1/artifacts/{kind}`: the spooled upload and its `artifact.upload` job. */
export interface UploadAccepted {
  id: string;
  type: 'artifact.upload';
  kind: ArtifactKind;
  key: string;
  bucket: string;
  size: number;
  sha256: string;
  content_type: string;
  replayed: boolean;
  status_url: string;
}

/** The body of `PUT /api/v1/watermarks/{source_id}`: one collection run. */
export type WatermarkRun = z.input<typeof watermarkPutBodySchema>;

/** An IOC as stored: every sighting merged. */
export interface IocView {
  type: IocType;
  value: string;
  threat_type: string;
  confidence: number;
  sources: string[];
  first_seen: string;
  last_seen: string;
  tags: string[];
}

/** `GET /v1/iocs/{type}/{value}`: whether the Redis cache answered, and the IOC. */
export interface IocLookup {
  cached: boolean;
  ioc: IocView;
}
