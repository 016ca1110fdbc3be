import { JobFailedError } from './job-failed-error.js';
import { JobWaitTimeoutError } from './job-wait-timeout-error.js';
import { DEFAULT_RETRY, retryDelayMs, sleep, type RetryOptions } from './retry-policy.js';
import { StowageApiError, type ProblemBody } from './stowage-api-error.js';
import { iocSearchQueryString } from './ioc-search-query.js';
import type {
  ArtifactTargetInput,
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
  PoolStats,
  UploadAccepted,
  WatermarkRun,
  WatermarkView,
} from './types.js';

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
  /** Answer the Response itself, its body unread (a streamed download). */
  raw?: true;
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

  /** A job's state, progress, attempts, return value and failure reason (`GET /v1/jobs/{id}`). */
  async getJob(id: string, options: Pick<CallOptions, 'signal'> = {}): Promise<JobStatus> {
    return (await this.send('GET', `/v1/jobs/${seg(id)}`, {
      signal: options.signal,
    })) as JobStatus;
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
      if (job.state === 'failed') throw new JobFailedError(job);
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

  /** An IOC by type and value (cache first, then the hot store), or undefined when unknown. */
  async lookupIoc(
    type: IocType,
    value: string,
    options: Pick<CallOptions, 'signal'> = {},
  ): Promise<IocLookup | undefined> {
    return (await this.send('GET', `/v1/iocs/${seg(type)}/${seg(value)}`, {
      signal: options.signal,
      absentOn: 404,
    })) as IocLookup | undefined;
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

  /** The api process's PostgreSQL pool: size, open, idle, in use, waiting (`GET /v1/stats/pools`). */
  async poolStats(options: Pick<CallOptions, 'signal'> = {}): Promise<PoolStats> {
    return (await this.send('GET', '/v1/stats/pools', { signal: options.signal })) as PoolStats;
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
