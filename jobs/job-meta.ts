/**
 * The job data key under which a job's metadata rides along with its payload: who enqueued
 * it, for which tenant, and the tags it is found by. Written by the producer, stripped by the
 * worker runtime before the payload is parsed, never part of a payload schema.
 */
export const META_KEY = '$meta';

/** Who and what a job is for, as the producer recorded it. */
export interface JobMeta {
  /** The API key's name, `scheduler`, `cli:<user>`, or the application's own name. */
  enqueued_by?: string;
  /** The tenant whose work this is (ApiKey.tenant); unset for in-process work. */
  tenant?: string;
  /** Search tags such as `source:<id>` or `request:<id>` (JobDefinition.tags). */
  tags?: string[];
  /** The maximum duration of this job's attempts (ms), when it has its own (EnqueueOptions.timeoutMs). */
  timeout_ms?: number;
}

/** Who asks for a job: given by each way in (the API from its key, the CLI, the scheduler). */
export interface JobOrigin {
  enqueuedBy: string;
  tenant?: string | undefined;
}

/** The longest tag kept (a longer value is cut): tags are for finding, not for storing. */
export const MAX_TAG_LENGTH = 200;
/** The most tags one job carries: a batch of 10,000 IOCs must not carry 10,000 tags. */
export const MAX_TAGS = 16;

/** The metadata of a job from its origin and tags; undefined when there is nothing to say. */
export function jobMeta(
  origin: JobOrigin | undefined,
  tags: readonly string[] | undefined,
  timeoutMs?: number,
): JobMeta | undefined {
  const kept = tags && boundedTags(tags);
  if (!origin && !kept?.length && timeoutMs === undefined) return undefined;
  return {
    ...(origin ? { enqueued_by: origin.enqueuedBy } : {}),
    ...(origin?.tenant === undefined ? {} : { tenant: origin.tenant }),
    ...(kept?.length ? { tags: kept } : {}),
    ...(timeoutMs === undefined ? {} : { timeout_ms: timeoutMs }),
  };
}

/** Tags deduplicated, cut to MAX_TAG_LENGTH and at most MAX_TAGS, in first-seen order. */
function boundedTags(tags: readonly string[]): string[] {
  const out = new Set<string>();
  for (const tag of tags) {
    if (out.size >= MAX_TAGS) break;
    if (tag !== '') out.add(tag.slice(0, MAX_TAG_LENGTH));
  }
  return [...out];
}

/** Job data with metadata added (or the data itself when there is none). */
export function withMeta(data: unknown, meta: JobMeta | undefined): unknown {
  if (!meta || data === null || typeof data !== 'object' || Array.isArray(data)) return data;
  return { ...(data as Record<string, unknown>), [META_KEY]: meta };
}

/** The metadata a job's data carries, or an empty object (a job of an older producer). */
export function metaOf(data: unknown): JobMeta {
  if (data === null || typeof data !== 'object') return {};
  const meta = (data as Record<string, unknown>)[META_KEY];
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return {};
  const m = meta as Record<string, unknown>;
  return {
    ...(typeof m.enqueued_by === 'string' ? { enqueued_by: m.enqueued_by } : {}),
    ...(typeof m.tenant === 'string' ? { tenant: m.tenant } : {}),
    ...(Array.isArray(m.tags) ? { tags: m.tags.filter((t) => typeof t === 'string') } : {}),
    ...(typeof m.timeout_ms === 'number' && Number.isInteger(m.timeout_ms) && m.timeout_ms > 0
      ? { timeout_ms: m.timeout_ms }
      : {}),
  };
}

/**
 * The most IOC values a job is tagged with (`ioc:<value>`): a look-up or a small batch is found
 * by its indicators; a bigger batch gets no IOC tag at all rather than an arbitrary few
 * (a search for an IOC that returned some of its batches but not others would mislead).
 */
export const MAX_IOC_TAGS = 8;

/** `ioc:<value>` for each distinct value, or none when there are more than MAX_IOC_TAGS. */
export function iocTags(values: Iterable<string>): string[] {
  const distinct = new Set<string>();
  for (const value of values) {
    distinct.add(value);
    if (distinct.size > MAX_IOC_TAGS) return [];
  }
  return [...distinct].map((value) => `ioc:${value}`);
}

/**
 * The tags an ingest request gives each job it enqueues: its source and, when the caller sent
 * an Idempotency-Key, `request:<key>` (claim-checked batches no longer carry either).
 */
export function ingestTags(sourceId: string | undefined, requestKey: string | undefined): string[] {
  return [
    ...(sourceId === undefined ? [] : [`source:${sourceId}`]),
    ...(requestKey === undefined ? [] : [`request:${requestKey}`]),
  ];
}
