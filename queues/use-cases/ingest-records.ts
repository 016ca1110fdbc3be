import { z } from 'zod';
import { idempotencyKeySchema } from '../../src/domain/idempotency-key.js';
import { sourceIdSchema } from '../../src/domain/watermark.js';
import { ValidationError } from '../../src/errors/index.js';
import { requestDigest } from '../../src/stores/redis/idempotency-store.js';
import type { AnyJobDefinition } from '../../jobs/job-definition.js';
import { APP_KEY_SCOPE, jobIdForKey } from '../../jobs/job-id.js';
import { ingestTags } from '../../jobs/job-meta.js';
import type { Producer } from '../producer.js';
import { ingestBodySchema, type IngestLimits } from './ingest-iocs.js';

/**
 * A record kind that rides IOC ingest's path (activity events, detections): a batch of
 * records under `field`, each checked by `schema`, chunked into `job` jobs whose payload is
 * `{ [field]: chunk }`, with an optional watermark making them the children of one
 * watermark.commit flow. Limits are IOC ingest's (INGEST_MAX_IOCS, INGEST_CHUNK_SIZE).
 */
export interface RecordKind<F extends string, R> {
  /** The body's array and the job payload's: `activities`, `detections`. */
  readonly field: F;
  /** One record, in messages: `activity`, `detection`. */
  readonly noun: string;
  /** The insert job type. */
  readonly job: string;
  /** One record as the api checks it. */
  readonly schema: z.ZodType<R>;
  /**
   * For a kind whose first write wins and whose later writes are refused (seed 002's records):
   * a record's identity, the field that holds it and its content, so that one request cannot
   * carry two records with one identity and different contents (a 400 naming the later one).
   */
  readonly identity?: {
    field: string;
    of(record: R): { key: string; content: string };
  };
}

/**
 * A batch as a detector or collector sends it; each record is then checked by the kind's
 * schema. `source_id` names the collection run's source (the watermark's), needed only with a
 * watermark; the watermark is IOC ingest's.
 */
export function recordIngestBodySchema<F extends string>(
  kind: RecordKind<F, unknown>,
  limits: IngestLimits,
) {
  return z
    .strictObject({
      source_id: sourceIdSchema.optional(),
      [kind.field]: z
        .array(z.unknown())
        .min(1, `at least one ${kind.noun}`)
        .max(limits.maxIocs, `at most ${limits.maxIocs} records per request`),
      watermark: ingestBodySchema(limits).shape.watermark,
    })
    .superRefine((batch, ctx) => {
      if (batch.watermark !== undefined && batch.source_id === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['source_id'],
          message: 'a watermark needs the source it belongs to',
        });
    });
}

/** A batch checked record by record and split into chunks of at most `chunkSize`. */
export interface ParsedRecordIngest<R> {
  source_id: string | undefined;
  watermark: { timestamp: Date; records_collected?: number | undefined } | undefined;
  records: R[];
  chunks: R[][];
  /** What the batch asks for. */
  request: unknown;
  /** requestDigest(request): the idempotency key when none is given. */
  readonly digest: string;
}

// Built once per kind and limits object (a process has one of each), not once per batch.
const schemas = new WeakMap<
  RecordKind<string, unknown>,
  WeakMap<IngestLimits, ReturnType<typeof recordIngestBodySchema>>
>();

function bodySchemaOf(kind: RecordKind<string, unknown>, limits: IngestLimits) {
  let byLimits = schemas.get(kind);
  if (!byLimits) schemas.set(kind, (byLimits = new WeakMap()));
  let schema = byLimits.get(limits);
  if (!schema) byLimits.set(limits, (schema = recordIngestBodySchema(kind, limits)));
  return schema;
}

/**
 * Validates a batch as a whole: one bad record rejects it (a ValidationError naming its
 * index and field, `detections.3.severity`) and nothing is enqueued.
 */
export function parseRecordIngest<F extends string, R>(
  kind: RecordKind<F, R>,
  input: unknown,
  limits: IngestLimits,
): ParsedRecordIngest<R> {
  const parsedBody = bodySchemaOf(kind, limits).safeParse(input);
  if (!parsedBody.success) throw ValidationError.fromZod(parsedBody.error);
  // The field's name is computed, so zod's output type cannot tell the parts apart.
  const data = parsedBody.data as unknown as Pick<
    ParsedRecordIngest<R>,
    'source_id' | 'watermark'
  > &
    Record<F, unknown[]>;
  const { source_id, watermark } = data;

  const records: R[] = [];
  const issues: ValidationError['issues'] = [];
  data[kind.field].forEach((raw, i) => {
    const parsed = kind.schema.safeParse(raw);
    if (parsed.success) records.push(parsed.data);
    else issues.push(...ValidationError.fromZod(parsed.error, `${kind.field}.${i}`).issues);
  });
  if (issues.length === 0 && kind.identity) issues.push(...identityClashes(kind, records));
  if (issues.length > 0) throw new ValidationError(issues.slice(0, 100));

  const chunks: R[][] = [];
  for (let i = 0; i < records.length; i += limits.chunkSize)
    chunks.push(records.slice(i, i + limits.chunkSize));
  const request = { source_id, watermark, [kind.field]: records };
  let digest: string | undefined;
  return {
    source_id,
    watermark,
    records,
    chunks,
    request,
    get digest() {
      digest ??= requestDigest(request);
      return digest;
    },
  };
}

/** What a record ingest enqueued: plain insert jobs, or a watermark.commit flow over them. */
export type RecordIngestResult<F extends string> =
  | ({ source_id?: string; jobs: { id: string; type: string }[] } & Record<F, number>)
  | ({
      id: string;
      type: 'watermark.commit';
      source_id: string;
      chunks: number;
      /** The flow was there already (a retry of a batch that enqueued but did not answer). */
      replayed: boolean;
      children: string[];
      status_url: string;
    } & Record<F, number>);

/**
 * Enqueues a parsed batch as bounded insert jobs whose ids derive from `key` (the same key
 * and batch enqueue nothing twice). With a watermark, the inserts are the children of a
 * watermark.commit flow, so the watermark advances only after every insert succeeded (as IOC
 * ingest does, queues/use-cases/ingest-iocs.ts).
 */
export async function enqueueRecordIngest<F extends string, R>(
  producer: Producer<readonly AnyJobDefinition[]>,
  kind: RecordKind<F, R>,
  batch: ParsedRecordIngest<R>,
  scoped: { key: string; keyScope: string; requestKey?: string | undefined },
): Promise<RecordIngestResult<F>> {
  const { source_id, watermark, records, chunks } = batch;
  const { key, keyScope } = scoped;
  // The jobs carry a batch reference, not the source: the request tags them.
  const tags = ingestTags(source_id, scoped.requestKey);
  const count = { [kind.field]: records.length } as Record<F, number>;
  if (!watermark || source_id === undefined) {
    const jobs = await producer.enqueueBulkByName(
      kind.job,
      chunks.map((chunk) => ({ [kind.field]: chunk })),
      // Each record was parsed above; the chunks are the schema's output already.
      { idempotencyKeys: chunks.map((_, i) => `${key}/${i}`), keyScope, validated: true, tags },
    );
    return {
      ...(source_id === undefined ? {} : { source_id }),
      ...count,
      jobs: jobs.map((j) => ({ id: j.id, type: j.name })),
    };
  }

  // A retry of a request that enqueued but did not answer finds its flow already there.
  const parentId = jobIdForKey('watermark.commit', key, keyScope);
  const children = chunks.map((_, i) => jobIdForKey(kind.job, `${key}/${i}`, keyScope));
  const existing = await producer.hasJob('watermark.commit', parentId);
  if (!existing) {
    await producer.enqueueFlow({
      keyScope,
      tags,
      parent: {
        name: 'watermark.commit',
        idempotencyKey: key,
        payload: {
          source_id,
          timestamp: watermark.timestamp.toISOString(),
          status: 'success',
          records_collected: watermark.records_collected ?? records.length,
        },
      },
      children: chunks.map((chunk, i) => ({
        name: kind.job,
        idempotencyKey: `${key}/${i}`,
        payload: { [kind.field]: chunk },
        validated: true,
      })),
    });
  }
  return {
    id: parentId,
    type: 'watermark.commit' as const,
    source_id,
    ...count,
    chunks: chunks.length,
    replayed: existing,
    children,
    status_url: `/v1/jobs/${parentId}`,
  };
}

/** An in-process record ingest: the API's body, and the key the API takes from a header. */
export type IngestRecordsInput<F extends string> = {
  source_id?: string | undefined;
  watermark?: { timestamp: Date | string; records_collected?: number | undefined } | undefined;
  /** The same key and batch are one set of jobs (or one flow); default: the batch's digest. */
  idempotencyKey?: string | undefined;
} & Record<F, unknown[]>;

/**
 * Ingests a batch in one call, as the in-process producer does (seed 000's
 * store_activities_batch): validate, key, enqueue; with a watermark a flow that commits it
 * after every insert.
 */
export async function ingestRecords<F extends string, R>(
  producer: Producer<readonly AnyJobDefinition[]>,
  kind: RecordKind<F, R>,
  limits: IngestLimits,
  input: IngestRecordsInput<F>,
): Promise<RecordIngestResult<F>> {
  const { idempotencyKey, ...body } = input;
  const batch = parseRecordIngest(
    kind,
    Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)),
    limits,
  );
  if (idempotencyKey !== undefined) {
    const key = idempotencyKeySchema.safeParse(idempotencyKey);
    if (!key.success) throw ValidationError.fromZod(key.error, 'idempotencyKey');
  }
  return enqueueRecordIngest(producer, kind, batch, {
    key: idempotencyKey ?? batch.digest,
    keyScope: APP_KEY_SCOPE,
  });
}

/** Records of a request that repeat an earlier one's identity with other content. */
function identityClashes<F extends string, R>(
  kind: RecordKind<F, R>,
  records: readonly R[],
): ValidationError['issues'] {
  const identity = kind.identity;
  if (identity === undefined) return [];
  const first = new Map<string, { index: number; content: string }>();
  const issues: ValidationError['issues'] = [];
  records.forEach((record, i) => {
    const { key, content } = identity.of(record);
    const seen = first.get(key);
    if (seen === undefined) first.set(key, { index: i, content });
    else if (seen.content !== content)
      issues.push({
        path: `${kind.field}.${i}.${identity.field}`,
        message: `${kind.noun} ${JSON.stringify(key)} is also ${kind.field}.${seen.index}, with other content: one request cannot hold both`,
      });
  });
  return issues;
}
