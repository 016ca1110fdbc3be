import { JobFailedError } from './job-failed-error.js';
import { JobWaitTimeoutError } from './job-wait-timeout-error.js';
import { DEFAULT_RETRY, retryDelayMs, sleep, type RetryOptions } from './retry-policy.js';
import { StowageApiError, type ProblemBody } from './stowage-api-error.js';
import { iocSearchQueryString } from './ioc-search-query.js';
import type {
  DeadLetter,
  DeadLetterPage,
  DeadLetterPurge,
  DeadLetterQuery,
  DeadLetterRetried,
  DeadLettersPurged,
  Schedule,
} from './dead-letter-types.js';
import type {
  DetectionBatch,
  DetectionIngestFlow,
  DetectionIngestJobs,
  DetectionPage,
  DetectionSearch,
  DetectionStats,
  DetectionStatusChanged,
  DetectionStatusUpdate,
  DetectionWithHistory,
} from './detection-types.js';
import type {
  ActivityBatch,
  ActivityIngestFlowAccepted,
  ActivityIngestJobsAccepted,
  ActivityPage,
  ActivitySearch,
  ActivityStats,
} from './activity-types.js';
import type {
  RecordBatch,
  RecordIngestFlowAccepted,
  RecordIngestJobsAccepted,
  RecordRead,
  RecordStoreAccepted,
  StorageRecordInput,
} from './record-types.js';
import type {
  ArtifactDeleted,
  ArtifactKind,
  ArtifactList,
  ArtifactStats,
  ArtifactTargetInput,
  CacheInvalidation,
  CacheStats,
  ConfigEntryView,
  ConfigList,
  IngestBatch,
  IngestFlowAccepted,
  IngestJobsAccepted,
  IngestWatermark,
  IocDeleted,
  IocLookup,
  IocSearchFilter,
  IocSearchPage,
  IocStats,
  IocType,
  JobAccepted,
  JobName,
  JobPayload,
  JobsAccepted,
  JobStatus,
  JobSearchFilter,
  JobPage,
  JobRemoved,
  JobCancelled,
  PresignedUrl,
  ServiceStatus,
  PoolStats,
  UsageReport,
  UsageQuery,
  UploadAccepted,
  WatermarkRewinds,
  WatermarkRewound,
  WatermarkRun,
  WatermarkView,
} from './types.js';
import type { PlanApproved, PlanDetail, PlanList } from './plan-types.js';

/** How to reach the api, and how patiently. */
export interface StowageClientOptions {
  /** The api's base URL, e.g. `http://stowage-api:8080`. */
  baseUrl: string;
  /** An API key (`API_KEYS`) holding the scopes of the calls made. */
  apiKey: string;
  /** Retries of network errors and 502/503/504; `false` to never retry. */
  retry?: Partial<RetryOptions> | false;
  /** Deadline of one attempt of a JSON request (default 30 s); uploads have none by default. */
  timeoutMs?: number;
  /** Told before each retry, e.g. to log it: what failed and how long the client waits. */
  onRetry?: (retry: RetryEvent) => void;
}

/** A failed attempt about to be sent again. */
export interface RetryEvent {
  method: string;
  path: string;
  /** 1 for the first retry. */
  retry: number;
  delayMs: number;
  /** The api's error (502/503/504), or the network error. */
  error: StowageApiError | Error;
}

/** Per-call choices. */
export interface CallOptions {
  /**
   * Scoped to this API key and the route: the same key and body give the same job, another
   * body is a 409 `idempotency_conflict`. Sent again, unchanged, on every retry.
   */
  idempotencyKey?: string;
  /** Cancels the call, retries and waits included. */
  signal?: AbortSignal | undefined;
}

/** Bytes of an artifact: all at once, or a stream read as it is sent. */
export type UploadSource =
  | Uint8Array
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array>
  | (() => ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>);

/** What goes with an artifact's bytes. */
export interface UploadOptions extends CallOptions {
  /** Kept on the object (default `application/octet-stream`). */
  contentType?: string;
  /** Your SHA-256 (hex) of the bytes: the api refuses the upload (400) if they differ. */
  sha256?: string;
  /** Object metadata (`x-amz-meta-*`): lower-case keys, printable ASCII values. */
  metadata?: Record<string, string>;
  /** Deadline of one attempt; none by default (a large upload takes as long as it takes). */
  timeoutMs?: number;
}

/** A byte range of a download: `start` to `end` inclusive (to the end without one), or the last `suffix` bytes. */
export type DownloadRange = { start: number; end?: number } | { suffix: number };

/** Choices of a download. */
export interface DownloadOptions extends Pick<CallOptions, 'signal'> {
  /** One byte range: answered 206 with those bytes (a range past the end is a 416 error). */
  range?: DownloadRange;
  /** Deadline of the whole download, body included; none by default. */
  timeoutMs?: number;
}

/** A download under way: read `body` (a web ReadableStream, also async-iterable) once. */
export interface ArtifactDownload {
  /** 206 when a range was served. */
  status: 200 | 206;
  body: ReadableStream<Uint8Array>;
  /** Bytes in `body`. */
  length: number;
  contentType: string;
  etag: string | undefined;
  /** SHA-256 of the WHOLE object as stored (X-Stowage-SHA256), also for a range. */
  sha256: string | undefined;
  /** The bytes served (inclusive) and the object's size, for a 206. */
  range: { start: number; end: number; size: number } | undefined;
}

/** How long to wait for a job, and how often to ask. */
export interface WaitOptions {
  /** Give up after this long (default 60 s) with a JobWaitTimeoutError. */
  timeoutMs?: number;
  /** Time between two status requests (default 500 ms). */
  pollMs?: number;
  signal?: AbortSignal | undefined;
}

interface Send {
  json?: unknown;
  /** The body of each attempt, and whether it can be sent more than once. */
  body?: { next: () => unknown; replayable: boolean };
  headers?: Record<string, string>;
  idempotencyKey?: string | undefined;
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
  /** Statuses answered with `undefined` instead of an error (a watermark not there yet). */
  absentOn?: number;
  /** A success is returned as the Response itself, its body unread (downloads). */
  raw?: boolean;
}

const JSON_CONTENT = /^application\/(?:problem\+)?json/;
const ATTEMPT_TIMEOUT_MS = 30_000;

/**
 * A typed client of the Stowage HTTP API: enqueue jobs, ingest collector batches, upload
 * artifacts, wait for jobs, read and write watermarks, look up IOCs. Payloads are typed by
 * job name from the job definitions. Uses only Node's fetch.
 */
export class StowageClient {
  private readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly retry: RetryOptions;
  private readonly timeoutMs: number;
  private readonly onRetry: ((retry: RetryEvent) => void) | undefined;

  constructor(options: StowageClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    this.retry =
      options.retry === false
        ? { ...DEFAULT_RETRY, retries: 0 }
        : { ...DEFAULT_RETRY, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? ATTEMPT_TIMEOUT_MS;
    this.onRetry = options.onRetry;
  }

  /** Enqueues one job of a type after the api validated its payload (`POST /v1/jobs/{type}`). */
  async enqueue<N extends JobName>(
    type: N,
    payload: JobPayload<N>,
    options: CallOptions = {},
  ): Promise<JobAccepted> {
    return (await this.send('POST', `/v1/jobs/${seg(type)}`, {
      json: payload,
      ...callOptions(options),
    })) as JobAccepted;
  }

  /**
   * Enqueues up to 1,000 jobs of one type in one request, all validated before any is
   * enqueued; with a key, payload i's job id derives from `key/i`.
   */
  async enqueueBulk<N extends JobName>(
    type: N,
    payloads: JobPayload<N>[],
    options: CallOptions = {},
  ): Promise<JobsAccepted> {
    return (await this.send('POST', `/v1/jobs/${seg(type)}/bulk`, {
      json: { payloads },
      ...callOptions(options),
    })) as JobsAccepted;
  }

  /**
   * Ingests a collector's batch (`POST /v1/ingest/iocs`). With a watermark the inserts run as
   * the children of one `watermark.commit`: the watermark moves only once all are stored.
   */
  async ingestIocs(
    batch: IngestBatch & { watermark: IngestWatermark },
    options?: CallOptions,
  ): Promise<IngestFlowAccepted>;
  async ingestIocs(
    batch: IngestBatch & { watermark?: undefined },
    options?: CallOptions,
  ): Promise<IngestJobsAccepted>;
  async ingestIocs(
    batch: IngestBatch,
    options: CallOptions = {},
  ): Promise<IngestFlowAccepted | IngestJobsAccepted> {
    return (await this.send('POST', '/v1/ingest/iocs', {
      json: batch,
      ...callOptions(options),
    })) as IngestFlowAccepted | IngestJobsAccepted;
  }

  /**
   * Uploads an artifact (`POST /v1/artifacts/{kind}`), streaming the bytes as they are read:
   * a file stream is never held in memory. A one-shot stream is sent once; give a function
   * returning a fresh stream (or a Buffer) to have a failed attempt sent again.
   */
  async uploadArtifact(
    target: ArtifactTargetInput,
    source: UploadSource,
    options: UploadOptions = {},
  ): Promise<UploadAccepted> {
    const { kind, ...ids } = target as Record<string, unknown> & { kind: string };
    const query = new URLSearchParams(
      Object.entries(ids).map(([name, value]): [string, string] => [name, String(value)]),
    );
    const headers: Record<string, string> = {
      'content-type': options.contentType ?? 'application/octet-stream',
    };
    if (options.sha256 !== undefined) headers['x-content-sha256'] = options.sha256;
    for (const [name, value] of Object.entries(options.metadata ?? {})) {
      headers[`x-artifact-meta-${name}`] = value;
    }
    return (await this.send('POST', `/v1/artifacts/${seg(kind)}?${query.toString()}`, {
      body: bodyOf(source),
      headers,
      ...callOptions(options),
      timeoutMs: options.timeoutMs,
    })) as UploadAccepted;
  }

  /**
   * Downloads an artifact by its key as listings show it (`GET
   * /v1/artifacts/{kind}/objects/{key}`), streamed: nothing is buffered whole. A failed
   * attempt before the body started is retried; a body cut short errors the stream.
   */
  async downloadArtifact(
    kind: ArtifactKind,
    key: string,
    options: DownloadOptions = {},
  ): Promise<ArtifactDownload> {
    const headers: Record<string, string> = { accept: '*/*' };
    if (options.range) {
      const { range } = options;
      headers.range =
        'suffix' in range ? `bytes=-${range.suffix}` : `bytes=${range.start}-${range.end ?? ''}`;
    }
    const res = (await this.send('GET', `/v1/artifacts/${seg(kind)}/objects/${seg(key)}`, {
      headers,
      signal: options.signal,
      timeoutMs: options.timeoutMs,
      raw: true,
    })) as Response;
    const served = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
    return {
      status: res.status === 206 ? 206 : 200,
      body: res.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() }),
      length: Number(res.headers.get('content-length') ?? 0),
      contentType: res.headers.get('content-type') ?? 'application/octet-stream',
      etag: res.headers.get('etag') ?? undefined,
      sha256: res.headers.get('x-stowage-sha256') ?? undefined,
      range: served
        ? { start: Number(served[1]), end: Number(served[2]), size: Number(served[3]) }
        : undefined,
    };
  }

  /**
   * Deletes a sample or debug bundle for good (`DELETE /v1/artifacts/{kind}/objects/{key}`,
   * an admin key), with `reason` in the audit trail. Deleting what is gone answers
   * `deleted: false`; a TA bundle or a locked object is a 409 `artifact_protected`.
   */
  async deleteArtifact(
    kind: ArtifactKind,
    key: string,
    options: Pick<CallOptions, 'signal'> & { reason?: string } = {},
  ): Promise<ArtifactDeleted> {
    const query =
      options.reason === undefined ? '' : `?reason=${encodeURIComponent(options.reason)}`;
    return (await this.send('DELETE', `/v1/artifacts/${seg(kind)}/objects/${seg(key)}${query}`, {
      signal: options.signal,
    })) as ArtifactDeleted;
  }

  /** A job's state, progress, attempts, return value and failure reason (`GET /v1/jobs/{id}`). */
  async getJob(id: string, options: Pick<CallOptions, 'signal'> = {}): Promise<JobStatus> {
    return (await this.send('GET', `/v1/jobs/${seg(id)}`, {
      signal: options.signal,
    })) as JobStatus;
  }

  /**
   * One page of jobs matching a filter (`GET /v1/jobs`), newest first, across queues and
   * states; pass `next_cursor` back as `cursor`, or iterate every job with listAllJobs.
   */
  async listJobs(
    filter: JobSearchFilter = {},
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<JobPage> {
    return (await this.send('GET', `/v1/jobs${queryOf(filter)}`, {
      signal: options.signal,
    })) as JobPage;
  }

  /** Every job matching a filter, newest first: `for await (const job of client.listAllJobs(f))`. */
  async *listAllJobs(
    filter: Omit<JobSearchFilter, 'cursor'> = {},
    options: Pick<CallOptions, 'signal'> = {},
  ): AsyncGenerator<JobStatus> {
    let cursor: string | undefined;
    do {
      const page = await this.listJobs({ ...filter, ...(cursor ? { cursor } : {}) }, options);
      yield* page.jobs;
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
  }

  /**
   * Removes a job that is not running, with its flow children (`DELETE /v1/jobs/{id}`, an
   * admin key); undefined when there is no such job, a 409 when it is running.
   */
  async removeJob(
    id: string,
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<JobRemoved | undefined> {
    return (await this.send('DELETE', `/v1/jobs/${seg(id)}`, {
      signal: options.signal,
      absentOn: 404,
    })) as JobRemoved | undefined;
  }

  /**
   * Cancels a job (`POST /v1/jobs/{id}/cancel`, an admin key): one that has not started is
   * removed (`removed`); a running one is aborted at its next await (`cancelling`, then its
   * status reads `cancelled`). A job that already completed or failed is a 409.
   */
  async cancelJob(id: string, options: Pick<CallOptions, 'signal'> = {}): Promise<JobCancelled> {
    return (await this.send('POST', `/v1/jobs/${seg(id)}/cancel`, {
      signal: options.signal,
    })) as JobCancelled;
  }

  /**
   * Polls a job until it completed (its status is returned) or failed for good (throws
   * JobFailedError with the reason); JobWaitTimeoutError after `timeoutMs`.
   */
  async waitForJob(id: string, options: WaitOptions = {}): Promise<JobStatus> {
    const timeoutMs = options.timeoutMs ?? 60_000;
    const pollMs = options.pollMs ?? 500;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await this.getJob(id, { signal: options.signal });
      if (job.state === 'completed') return job;
      if (job.state === 'failed' || job.state === 'cancelled') throw new JobFailedError(job);
      const left = deadline - Date.now();
      if (left <= 0) throw new JobWaitTimeoutError(job, timeoutMs);
      await sleep(Math.min(pollMs, left), options.signal);
    }
  }

  /** A source's watermark, or undefined before its first run (the api's 404). */
  async getWatermark(
    sourceId: string,
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<WatermarkView | undefined> {
    return (await this.send('GET', `/api/v1/watermarks/${seg(sourceId)}`, {
      signal: options.signal,
      absentOn: 404,
    })) as WatermarkView | undefined;
  }

  /**
   * Records a collection run now (`PUT /api/v1/watermarks/{source_id}`): a success moves the
   * watermark forward only, a failure records its error. Setting the same run again is a no-op.
   */
  async setWatermark(
    sourceId: string,
    run: WatermarkRun,
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<WatermarkView> {
    return (await this.send('PUT', `/api/v1/watermarks/${seg(sourceId)}`, {
      json: run,
      signal: options.signal,
    })) as WatermarkView;
  }

  /**
   * An IOC by type and value (cache first unless `useCache` is false, then the hot store, then
   * the archive: `tier` says which), or undefined when unknown.
   */
  async lookupIoc(
    type: IocType,
    value: string,
    options: Pick<CallOptions, 'signal'> & { useCache?: boolean } = {},
  ): Promise<IocLookup | undefined> {
    const query = options.useCache === false ? '?use_cache=false' : '';
    return (await this.send('GET', `/v1/iocs/${seg(type)}/${seg(value)}${query}`, {
      signal: options.signal,
      absentOn: 404,
    })) as IocLookup | undefined;
  }

  /**
   * A configuration key's value (`GET /v1/config/{key}`): the current version, or the one
   * asked for; undefined when the key (or that version) does not exist.
   */
  async getConfig(
    key: string,
    options: { version?: number; signal?: AbortSignal | undefined } = {},
  ): Promise<ConfigEntryView | undefined> {
    const query = options.version === undefined ? '' : `?version=${options.version}`;
    return (await this.send('GET', `/v1/config/${seg(key)}${query}`, {
      signal: options.signal,
      absentOn: 404,
    })) as ConfigEntryView | undefined;
  }

  /**
   * Writes a configuration value (`PUT /v1/config/{key}`, admin scope) as the version after
   * `version` (0 or absent: create the key). A stale version throws a StowageApiError with
   * status 409 whose `problem.current_version` is the version to name.
   */
  async setConfig(
    key: string,
    value: unknown,
    options: { version?: number; signal?: AbortSignal | undefined } = {},
  ): Promise<ConfigEntryView> {
    return (await this.send('PUT', `/v1/config/${seg(key)}`, {
      json: { value, ...(options.version === undefined ? {} : { version: options.version }) },
      signal: options.signal,
    })) as ConfigEntryView;
  }

  /** One page of configuration keys with their versions (`GET /v1/config`); follow `next_cursor`. */
  async listConfig(
    options: { cursor?: string; limit?: number; signal?: AbortSignal | undefined } = {},
  ): Promise<ConfigList> {
    const query = new URLSearchParams();
    if (options.cursor !== undefined) query.set('cursor', options.cursor);
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    const qs = query.size > 0 ? `?${query.toString()}` : '';
    return (await this.send('GET', `/v1/config${qs}`, { signal: options.signal })) as ConfigList;
  }

  /** One page of maintenance plans, newest first (`GET /v1/plans`); follow `next_cursor`. */
  async listPlans(
    options: {
      status?: PlanList['plans'][number]['status'];
      cursor?: string;
      limit?: number;
      signal?: AbortSignal | undefined;
    } = {},
  ): Promise<PlanList> {
    const query = new URLSearchParams();
    if (options.status !== undefined) query.set('status', options.status);
    if (options.cursor !== undefined) query.set('cursor', options.cursor);
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    const qs = query.size > 0 ? `?${query.toString()}` : '';
    return (await this.send('GET', `/v1/plans${qs}`, { signal: options.signal })) as PlanList;
  }

  /**
   * A maintenance plan and one page of its items (`GET /v1/plans/{id}`); undefined when there
   * is no such plan. Follow `next_cursor` for the next page of items.
   */
  async getPlan(
    id: string,
    options: { cursor?: string; limit?: number; target?: string; signal?: AbortSignal } = {},
  ): Promise<PlanDetail | undefined> {
    const query = new URLSearchParams();
    if (options.cursor !== undefined) query.set('cursor', options.cursor);
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.target !== undefined) query.set('target', options.target);
    const qs = query.size > 0 ? `?${query.toString()}` : '';
    return (await this.send('GET', `/v1/plans/${seg(id)}${qs}`, {
      signal: options.signal,
      absentOn: 404,
    })) as PlanDetail | undefined;
  }

  /**
   * Approves a plan (`POST /v1/plans/{id}/approve`, admin scope) by the digest reviewed, which
   * enqueues its execution (wait for `job.id` with waitForJob). Another digest, or a refused or
   * expired plan, throws a StowageApiError with status 409.
   */
  async approvePlan(
    id: string,
    digest: string,
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<PlanApproved> {
    return (await this.send('POST', `/v1/plans/${seg(id)}/approve`, {
      json: { digest },
      signal: options.signal,
    })) as PlanApproved;
  }

  /** The service's status (`GET /status`, read scope): healthy or degraded, backends, queues. */
  async status(options: Pick<CallOptions, 'signal'> = {}): Promise<ServiceStatus> {
    return (await this.send('GET', '/status', { signal: options.signal })) as ServiceStatus;
  }

  /**
   * The IOC cache's statistics (`GET /v1/cache/stats`, read scope), under Stowage's names and
   * seed 000's: `hit_rate` a percent, `ioc_keys`, `used_memory`, …
   */
  async cacheStats(options: Pick<CallOptions, 'signal'> = {}): Promise<CacheStats> {
    return (await this.send('GET', '/v1/cache/stats', { signal: options.signal })) as CacheStats;
  }

  /** Drops an IOC from the cache (`DELETE /v1/cache/iocs/{type}/{value}`); the store keeps it. */
  async uncacheIoc(
    type: IocType,
    value: string,
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<CacheInvalidation> {
    return (await this.send('DELETE', `/v1/cache/iocs/${seg(type)}/${seg(value)}`, {
      signal: options.signal,
    })) as CacheInvalidation;
  }

  /**
   * Runs a maintenance job now, outside its schedule (`POST /v1/maintenance/{job}`, admin):
   * `cache.promote` warms the cache, `retention.cleanup` with `dry_run` reports.
   */
  async runMaintenance<N extends JobName>(
    job: N,
    payload: JobPayload<N>,
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<JobAccepted> {
    return (await this.send('POST', `/v1/maintenance/${seg(job)}`, {
      json: payload,
      signal: options.signal,
    })) as JobAccepted;
  }

  /** The artifacts of one request or validation run (`GET /v1/artifacts/{kind}/{id}`). */
  async listArtifacts(
    kind: ArtifactKind,
    id: string,
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<ArtifactList> {
    return (await this.send('GET', `/v1/artifacts/${seg(kind)}/${seg(id)}`, {
      signal: options.signal,
    })) as ArtifactList;
  }

  /** Objects, bytes, oldest and newest per artifact kind (`GET /v1/artifacts/stats`). */
  async artifactStats(options: Pick<CallOptions, 'signal'> = {}): Promise<ArtifactStats> {
    return (await this.send('GET', '/v1/artifacts/stats', {
      signal: options.signal,
    })) as ArtifactStats;
  }

  /** A presigned download URL of a stored artifact, valid `expiresIn` seconds (server default otherwise). */
  async presignArtifact(
    kind: ArtifactKind,
    key: string,
    options: Pick<CallOptions, 'signal'> & { expiresIn?: number } = {},
  ): Promise<PresignedUrl> {
    return (await this.send('POST', `/v1/artifacts/${seg(kind)}/presign`, {
      json: { key, ...(options.expiresIn !== undefined && { expires_in: options.expiresIn }) },
      signal: options.signal,
    })) as PresignedUrl;
  }

  /**
   * Moves a source's watermark back to an earlier success (`POST …/rewind`, admin), so the
   * next run collects again from there; the reason is kept in an audit row.
   */
  async rewindWatermark(
    sourceId: string,
    rewind: { timestamp: Date | string; reason: string },
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<WatermarkRewound> {
    return (await this.send('POST', `/api/v1/watermarks/${seg(sourceId)}/rewind`, {
      json: rewind,
      signal: options.signal,
    })) as WatermarkRewound;
  }

  /** The rewinds of a source's watermark, newest first (`GET …/rewinds`). */
  async listWatermarkRewinds(
    sourceId: string,
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<WatermarkRewinds> {
    return (await this.send('GET', `/api/v1/watermarks/${seg(sourceId)}/rewinds`, {
      signal: options.signal,
    })) as WatermarkRewinds;
  }

  /**
   * Ingests a detector's batch (`POST /v1/ingest/detections`; seed 000's store_detection),
   * idempotent on detection_id. With a watermark (and `source_id`), one `watermark.commit` flow.
   */
  async ingestDetections(
    batch: DetectionBatch,
    options: CallOptions = {},
  ): Promise<DetectionIngestFlow | DetectionIngestJobs> {
    return (await this.send('POST', '/v1/ingest/detections', {
      json: batch,
      ...callOptions(options),
    })) as DetectionIngestFlow | DetectionIngestJobs;
  }

  /**
   * Moves a detection along its workflow (`POST /v1/detections/{id}/status`; seed 000's
   * update_detection_status). The status it already has is a no-op (`changed: false`); an
   * impossible move throws a StowageApiError with status 409.
   */
  async updateDetectionStatus(
    detectionId: string,
    update: DetectionStatusUpdate,
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<DetectionStatusChanged> {
    return (await this.send('POST', `/v1/detections/${seg(detectionId)}/status`, {
      json: update,
      signal: options.signal,
    })) as DetectionStatusChanged;
  }

  /** A detection and its status history (`GET /v1/detections/{id}`), or undefined. */
  async getDetection(
    detectionId: string,
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<DetectionWithHistory | undefined> {
    return (await this.send('GET', `/v1/detections/${seg(detectionId)}`, {
      signal: options.signal,
      absentOn: 404,
    })) as DetectionWithHistory | undefined;
  }

  /**
   * One page of detections, newest first (`GET /v1/detections`; seed 000's
   * search_detections); pass `next_cursor` back as `cursor` for the next.
   */
  async searchDetections(
    search: DetectionSearch = {},
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<DetectionPage> {
    return (await this.send('GET', `/v1/detections${queryOf(search)}`, {
      signal: options.signal,
    })) as DetectionPage;
  }

  /** One page of dead letters, newest first (`GET /v1/dead-letters`); `next_cursor` continues. */
  async listDeadLetters(
    query: DeadLetterQuery = {},
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<DeadLetterPage> {
    return (await this.send('GET', `/v1/dead-letters${queryOf(query)}`, {
      signal: options.signal,
    })) as DeadLetterPage;
  }

  /** One dead letter (`GET /v1/dead-letters/{id}`). */
  async getDeadLetter(id: string, options: Pick<CallOptions, 'signal'> = {}): Promise<DeadLetter> {
    return (await this.send('GET', `/v1/dead-letters/${seg(id)}`, {
      signal: options.signal,
    })) as DeadLetter;
  }

  /**
   * Runs a dead letter again, once (`POST /v1/dead-letters/{id}/retry`, admin): a second
   * call answers the first retry's job with `retried: false`.
   */
  async retryDeadLetter(
    id: string,
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<DeadLetterRetried> {
    return (await this.send('POST', `/v1/dead-letters/${seg(id)}/retry`, {
      signal: options.signal,
    })) as DeadLetterRetried;
  }

  /** Removes every dead letter a filter covers, or all with `{ all: true }` (admin). */
  async purgeDeadLetters(
    filter: DeadLetterPurge,
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<DeadLettersPurged> {
    const json = Object.fromEntries(
      Object.entries(filter).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v]),
    );
    return (await this.send('POST', '/v1/dead-letters/purge', {
      json,
      signal: options.signal,
    })) as DeadLettersPurged;
  }

  /** Every schedule with its cron, last tick and next tick (`GET /v1/schedules`). */
  async listSchedules(options: Pick<CallOptions, 'signal'> = {}): Promise<Schedule[]> {
    const body = (await this.send('GET', '/v1/schedules', { signal: options.signal })) as {
      schedules: Schedule[];
    };
    return body.schedules;
  }

  /** Counts per severity and status (`GET /v1/detections/stats`), over a window when given. */
  async detectionStats(
    window: { since?: Date | string; until?: Date | string } = {},
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<DetectionStats> {
    return (await this.send('GET', `/v1/detections/stats${queryOf(window)}`, {
      signal: options.signal,
    })) as DetectionStats;
  }

  /**
   * Sends a batch of activity events (`POST /v1/ingest/activities`, seed 000's
   * store_activities_batch): activities.insert jobs, or with a watermark one flow that
   * commits it after every insert. An event already stored is not overwritten.
   */
  async ingestActivities(
    batch: ActivityBatch & { watermark: NonNullable<ActivityBatch['watermark']> },
    options?: CallOptions,
  ): Promise<ActivityIngestFlowAccepted>;
  async ingestActivities(
    batch: ActivityBatch & { watermark?: undefined },
    options?: CallOptions,
  ): Promise<ActivityIngestJobsAccepted>;
  async ingestActivities(
    batch: ActivityBatch,
    options: CallOptions = {},
  ): Promise<ActivityIngestFlowAccepted | ActivityIngestJobsAccepted> {
    return (await this.send('POST', '/v1/ingest/activities', {
      json: batch,
      ...callOptions(options),
    })) as ActivityIngestFlowAccepted | ActivityIngestJobsAccepted;
  }

  /**
   * Stores a batch of records (`POST /v1/records`, seed 002's store_record): records.insert
   * jobs that archive each batch under Object Lock, index it, then write it hot; with a
   * watermark one flow that commits it after every store. An id stored already is a no-op
   * with the same content and a refused conflict (counted in the job's result) with another.
   */
  async storeRecords(
    batch: RecordBatch & { watermark: NonNullable<RecordBatch['watermark']> },
    options?: CallOptions,
  ): Promise<RecordIngestFlowAccepted>;
  async storeRecords(
    batch: RecordBatch & { watermark?: undefined },
    options?: CallOptions,
  ): Promise<RecordIngestJobsAccepted>;
  async storeRecords(
    batch: RecordBatch,
    options: CallOptions = {},
  ): Promise<RecordIngestFlowAccepted | RecordIngestJobsAccepted> {
    return (await this.send('POST', '/v1/records', {
      json: batch,
      ...callOptions(options),
    })) as RecordIngestFlowAccepted | RecordIngestJobsAccepted;
  }

  /** Stores one record (seed 002's store_record): its id and the records.insert job. */
  async storeRecord(
    record: StorageRecordInput,
    options: CallOptions = {},
  ): Promise<RecordStoreAccepted> {
    const accepted = await this.storeRecords({ records: [record] }, options);
    return { id: record.id, ...accepted };
  }

  /**
   * A record (`GET /v1/records/{id}`, seed 002's retrieve_record), hot first, then from the
   * archive (`tier` says which); undefined when neither holds it.
   */
  async getRecord(
    id: string,
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<RecordRead | undefined> {
    return (await this.send('GET', `/v1/records/${seg(id)}`, {
      signal: options.signal,
      absentOn: 404,
    })) as RecordRead | undefined;
  }

  /**
   * One page of activity events (`GET /v1/activities`, seed 000's search_activities), oldest
   * first; pass `next_cursor` back as `cursor` for the next page.
   */
  async searchActivities(
    search: ActivitySearch = {},
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<ActivityPage> {
    return (await this.send('GET', `/v1/activities${queryOf(search)}`, {
      signal: options.signal,
    })) as ActivityPage;
  }

  /** Event counts per source and type in a window (`GET /v1/activities/stats`). */
  async activityStats(
    window: Pick<ActivitySearch, 'start_time' | 'end_time'> = {},
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<ActivityStats> {
    return (await this.send('GET', `/v1/activities/stats${queryOf(window)}`, {
      signal: options.signal,
    })) as ActivityStats;
  }

  /**
   * One page of IOCs matching a filter (`GET /v1/iocs`), in (type, value) order; pass
   * `next_cursor` back as `cursor` for the next. `count: true` also counts the matches.
   */
  async searchIocs(
    filter: IocSearchFilter & { limit?: number; cursor?: string; count?: boolean } = {},
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<IocSearchPage> {
    return (await this.send('GET', `/v1/iocs${iocSearchQueryString(filter)}`, {
      signal: options.signal,
    })) as IocSearchPage;
  }

  /** Every page of a search, in order: `for await (const page of client.searchIocPages(f))`. */
  async *searchIocPages(
    filter: IocSearchFilter & { limit?: number } = {},
    options: Pick<CallOptions, 'signal'> = {},
  ): AsyncGenerator<IocSearchPage> {
    let cursor: string | undefined;
    do {
      const page = await this.searchIocs({ ...filter, ...(cursor ? { cursor } : {}) }, options);
      yield page;
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
  }

  /** IOC counts per type, threat type and confidence bucket (`GET /v1/iocs/stats`). */
  async iocStats(options: Pick<CallOptions, 'signal'> = {}): Promise<IocStats> {
    return (await this.send('GET', '/v1/iocs/stats', { signal: options.signal })) as IocStats;
  }

  /** Deletes an IOC from the hot store and the cache (admin key); undefined when unknown. */
  async deleteIoc(
    type: IocType,
    value: string,
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<IocDeleted | undefined> {
    return (await this.send('DELETE', `/v1/iocs/${seg(type)}/${seg(value)}`, {
      signal: options.signal,
      absentOn: 404,
    })) as IocDeleted | undefined;
  }

  /**
   * The matching IOCs as a STIX 2.1 bundle (`GET /v1/export/stix`), as the byte stream the
   * api sends (pipe it to a file, or parse it). No attempt timeout: an export may be long.
   */
  async exportStix(
    filter: IocSearchFilter & { limit?: number; cursor?: string } = {},
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const res = (await this.send('GET', `/v1/export/stix${iocSearchQueryString(filter)}`, {
      signal: options.signal,
      timeoutMs: undefined,
      raw: true,
    })) as Response;
    if (res.body === null) throw new Error('the export answered without a body');
    return res.body;
  }

  /**
   * The matching IOCs as one MISP event (`GET /v1/export/misp`, MISP's JSON import format), as
   * the byte stream the api sends. No attempt timeout: an export may be long.
   */
  async exportMisp(
    filter: IocSearchFilter & { limit?: number; cursor?: string } = {},
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const res = (await this.send('GET', `/v1/export/misp${iocSearchQueryString(filter)}`, {
      signal: options.signal,
      timeoutMs: undefined,
      raw: true,
    })) as Response;
    if (res.body === null) throw new Error('the export answered without a body');
    return res.body;
  }

  /** The api process's PostgreSQL pool: size, open, idle, in use, waiting (`GET /v1/stats/pools`). */
  async poolStats(options: Pick<CallOptions, 'signal'> = {}): Promise<PoolStats> {
    return (await this.send('GET', '/v1/stats/pools', { signal: options.signal })) as PoolStats;
  }

  /** Usage per UTC day (`GET /v1/usage`): the key's own tenant; an admin's, every tenant or one. */
  async usage(
    query: UsageQuery = {},
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<UsageReport> {
    return (await this.send('GET', `/v1/usage${queryOf(query)}`, {
      signal: options.signal,
    })) as UsageReport;
  }

  /** Liveness of the api (`GET /health`). */
  async health(options: Pick<CallOptions, 'signal'> = {}): Promise<{ status: string }> {
    return (await this.send('GET', '/health', { signal: options.signal })) as { status: string };
  }

  /**
   * One request with retries: network errors and 502/503/504 are sent again after a backoff
   * (Retry-After honoured) with the same Idempotency-Key; any other status is final.
   */
  private async send(method: string, path: string, request: Send): Promise<unknown> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.apiKey}`,
      accept: 'application/json',
      ...request.headers,
    };
    if (request.idempotencyKey !== undefined) headers['idempotency-key'] = request.idempotencyKey;
    if (request.json !== undefined) headers['content-type'] = 'application/json';
    const timeoutMs = 'timeoutMs' in request ? request.timeoutMs : this.timeoutMs;

    for (let attempt = 0; ; attempt++) {
      const body = request.json !== undefined ? JSON.stringify(request.json) : request.body?.next();
      const canRetry = attempt < this.retry.retries && (request.body?.replayable ?? true);
      const signals = [request.signal];
      if (timeoutMs !== undefined) signals.push(AbortSignal.timeout(timeoutMs));
      const signal = AbortSignal.any(signals.filter((s) => s !== undefined));
      let res: Response;
      try {
        res = await fetch(`${this.baseUrl}${path}`, {
          method,
          headers,
          body: body as string | undefined,
          signal,
          // A stream body is sent as it is read (Node's fetch requires saying so).
          ...(body !== undefined && typeof body !== 'string' ? { duplex: 'half' } : {}),
        } as RequestInit);
      } catch (err) {
        // The caller's own abort ends everything; a network error or attempt timeout is retried.
        if (request.signal?.aborted || !canRetry) throw err;
        await this.backOff(method, path, attempt + 1, asError(err), null, request.signal);
        continue;
      }
      if (res.ok) return request.raw ? res : readBody(res);
      const problem = await readProblem(res);
      if (res.status === request.absentOn) return undefined;
      const error = new StowageApiError(method, path.split('?')[0]!, res.status, problem);
      if (!error.retryable || !canRetry) throw error;
      await this.backOff(
        method,
        path,
        attempt + 1,
        error,
        res.headers.get('retry-after'),
        request.signal,
      );
    }
  }

  private async backOff(
    method: string,
    path: string,
    retry: number,
    error: Error,
    retryAfter: string | null,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const delayMs = retryDelayMs(this.retry, retry, retryAfter);
    this.onRetry?.({ method, path: path.split('?')[0]!, retry, delayMs, error });
    await sleep(delayMs, signal);
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** The request fields of per-call options. */
function callOptions(options: CallOptions): Pick<Send, 'idempotencyKey' | 'signal'> {
  return { idempotencyKey: options.idempotencyKey, signal: options.signal };
}

/** A path segment, encoded (a URL IOC's slashes stay inside its segment). */
function seg(value: string): string {
  return encodeURIComponent(value);
}

/** A query string of the defined fields (Dates as ISO 8601), or '' when there are none. */
function queryOf(fields: object): string {
  const query = new URLSearchParams(
    Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]): [string, string] => [k, v instanceof Date ? v.toISOString() : String(v)]),
  ).toString();
  return query === '' ? '' : `?${query}`;
}

/** A body per attempt: bytes and factories can be sent again, a one-shot stream only once. */
function bodyOf(source: UploadSource): NonNullable<Send['body']> {
  if (typeof source === 'function') return { next: source, replayable: true };
  return { next: () => source, replayable: source instanceof Uint8Array };
}

async function readBody(res: Response): Promise<unknown> {
  if (res.status === 204) return undefined;
  const type = res.headers.get('content-type') ?? '';
  return JSON_CONTENT.test(type) ? res.json() : res.text();
}

/** The problem document of an error answer, or one made up from its status and text. */
async function readProblem(res: Response): Promise<ProblemBody> {
  const type = res.headers.get('content-type') ?? '';
  const text = await res.text().catch(() => '');
  if (JSON_CONTENT.test(type)) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed !== null && typeof parsed === 'object') return parsed;
    } catch {
      // Not JSON after all: described by its text below.
    }
  }
  return { status: res.status, detail: text.slice(0, 500) || res.statusText };
}
