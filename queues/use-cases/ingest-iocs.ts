import { z } from 'zod';
import { iocSchema } from '../../src/domain/ioc.js';
import { fastParseIoc } from '../../src/domain/ioc-fast-parse.js';
import { timestampSchema } from '../../src/domain/timestamp.js';
import { sourceIdSchema } from '../../src/domain/watermark.js';
import { idempotencyKeySchema } from '../../src/domain/idempotency-key.js';
import { ValidationError } from '../../src/errors/index.js';
import { requestDigest } from '../../src/stores/redis/idempotency-store.js';
import type { AnyJobDefinition } from '../../jobs/job-definition.js';
import { APP_KEY_SCOPE, jobIdForKey } from '../../jobs/job-id.js';
import { ingestTags } from '../../jobs/job-meta.js';
import type { Producer } from '../producer.js';

/** Limits of one ingest batch. */
export interface IngestLimits {
  maxIocs: number;
  chunkSize: number;
}

/** An ingest batch as a collector sends it; each record is then checked by iocSchema. */
export function ingestBodySchema(limits: IngestLimits) {
  return z.strictObject({
    source_id: sourceIdSchema,
    iocs: z
      .array(z.unknown())
      .min(1, 'at least one IOC')
      .max(limits.maxIocs, `at most ${limits.maxIocs} IOCs per request`),
    watermark: z
      .strictObject({
        timestamp: timestampSchema,
        records_collected: z.number().int().min(0).optional(),
      })
      .optional(),
  });
}

/** An ingest batch before validation. */
export type IngestInput = z.input<ReturnType<typeof ingestBodySchema>>;

/**
 * An in-process batch: like the API's, except that `source_id` may be left out when every
 * record names its own source and no watermark is given.
 */
function inProcessBodySchema(limits: IngestLimits) {
  return ingestBodySchema(limits)
    .extend({ source_id: sourceIdSchema.optional() })
    .superRefine((batch, ctx) => {
      if (batch.watermark !== undefined && batch.source_id === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['source_id'],
          message: 'a watermark needs the source it belongs to',
        });
    });
}

// Built once per limits object (a process has one), not once per batch.
const schemas = new WeakMap<
  IngestLimits,
  {
    api: ReturnType<typeof ingestBodySchema>;
    inProcess: ReturnType<typeof inProcessBodySchema>;
  }
>();

function schemasFor(limits: IngestLimits) {
  let built = schemas.get(limits);
  if (!built) {
    built = { api: ingestBodySchema(limits), inProcess: inProcessBodySchema(limits) };
    schemas.set(limits, built);
  }
  return built;
}

/** A batch checked record by record and split into chunks of at most `chunkSize` IOCs. */
export interface ParsedIngest {
  source_id: string | undefined;
  watermark: { timestamp: Date; records_collected?: number | undefined } | undefined;
  iocs: z.output<typeof iocSchema>[];
  chunks: z.output<typeof iocSchema>[][];
  /** What the batch asks for: its digest is the idempotency key when none is given. */
  request: unknown;
  /** requestDigest(request), computed on first use (a 1,000-record batch takes milliseconds). */
  readonly digest: string;
}

/**
 * Validates a batch as a whole: one bad record rejects it (a ValidationError naming its
 * index and field, `iocs.3.value`) and nothing is enqueued. Records without a source get the
 * batch's. `sourceOptional` (in-process callers) lets a batch of self-sourced records leave
 * `source_id` out.
 */
export function parseIngest(
  input: unknown,
  limits: IngestLimits,
  options: { sourceOptional?: boolean } = {},
): ParsedIngest {
  const schema = options.sourceOptional ? schemasFor(limits).inProcess : schemasFor(limits).api;
  const parsedBody = schema.safeParse(input);
  if (!parsedBody.success) throw ValidationError.fromZod(parsedBody.error);
  const { source_id, watermark } = parsedBody.data;

  const iocs: z.output<typeof iocSchema>[] = [];
  const issues: ValidationError['issues'] = [];
  parsedBody.data.iocs.forEach((raw, i) => {
    const withSource =
      source_id !== undefined && raw !== null && typeof raw === 'object' && !('source' in raw)
        ? { ...raw, source: source_id }
        : raw;
    const fast = fastParseIoc(withSource);
    if (fast !== undefined) {
      iocs.push(fast);
      return;
    }
    const parsed = iocSchema.safeParse(withSource);
    if (parsed.success) iocs.push(parsed.data);
    else issues.push(...ValidationError.fromZod(parsed.error, `iocs.${i}`).issues);
  });
  if (issues.length > 0) throw new ValidationError(issues.slice(0, 100));

  const chunks: (typeof iocs)[] = [];
  for (let i = 0; i < iocs.length; i += limits.chunkSize)
    chunks.push(iocs.slice(i, i + limits.chunkSize));
  const request = { source_id, watermark, iocs };
  let digest: string | undefined;
  return {
    source_id,
    watermark,
    iocs,
    chunks,
    request,
    get digest() {
      digest ??= requestDigest(request);
      return digest;
    },
  };
}

/** The key of a batch: the one given, else the batch's own digest (the same batch is one flow). */
export function ingestKey(batch: ParsedIngest, idempotencyKey: string | undefined): string {
  return idempotencyKey ?? batch.digest;
}

/** What an ingest enqueued: plain iocs.insert jobs, or a watermark.commit flow over them. */
export type IngestResult =
  | {
      /** Left out only by an in-process batch of self-sourced records. */
      source_id: string | undefined;
      iocs: number;
      jobs: { id: string; type: string }[];
    }
  | {
      id: string;
      type: 'watermark.commit';
      source_id: string;
      iocs: number;
      chunks: number;
      /** The flow was there already (a retry of a batch that enqueued but did not answer). */
      replayed: boolean;
      children: string[];
      status_url: string;
    };

/**
 * Enqueues a parsed batch as bounded iocs.insert jobs whose ids derive from `key` (so the
 * same key and batch enqueue nothing twice). With a watermark, the inserts are the children
 * of a watermark.commit flow, so the watermark advances only after every insert succeeded.
 */
export async function enqueueIngest(
  producer: Producer<readonly AnyJobDefinition[]>,
  batch: ParsedIngest,
  scoped: { key: string; keyScope: string; requestKey?: string | undefined },
): Promise<IngestResult> {
  const { source_id, watermark, iocs, chunks } = batch;
  const { key, keyScope } = scoped;
  // The jobs carry a batch reference, not the source: the request tags them.
  const tags = ingestTags(source_id, scoped.requestKey);
  if (!watermark || source_id === undefined) {
    const jobs = await producer.enqueueBulkByName(
      'iocs.insert',
      chunks.map((chunk) => ({ iocs: chunk })),
      // Each record was parsed above; the chunks are the schema's output already.
      { idempotencyKeys: chunks.map((_, i) => `${key}/${i}`), keyScope, validated: true, tags },
    );
    return { source_id, iocs: iocs.length, jobs: jobs.map((j) => ({ id: j.id, type: j.name })) };
  }

  // A retry of a request that enqueued but did not answer finds its flow already there.
  const parentId = jobIdForKey('watermark.commit', key, keyScope);
  const children = chunks.map((_, i) => jobIdForKey('iocs.insert', `${key}/${i}`, keyScope));
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
          records_collected: watermark.records_collected ?? iocs.length,
        },
      },
      children: chunks.map((chunk, i) => ({
        name: 'iocs.insert',
        idempotencyKey: `${key}/${i}`,
        payload: { iocs: chunk },
        validated: true,
      })),
    });
  }
  return {
    id: parentId,
    type: 'watermark.commit',
    source_id,
    iocs: iocs.length,
    chunks: chunks.length,
    replayed: existing,
    children,
    status_url: `/v1/jobs/${parentId}`,
  };
}

/** An in-process ingest: the API's body, and the key the API takes from a header. */
export interface IngestIocsInput {
  iocs: unknown[];
  source_id?: string | undefined;
  watermark?: { timestamp: Date | string; records_collected?: number | undefined } | undefined;
  /** The same key and batch are one set of jobs (or one flow); default: the batch's digest. */
  idempotencyKey?: string | undefined;
}

/**
 * Ingests a batch in one call, as the in-process producer does: validate (errors name the
 * field), key (the one given, in the application's namespace, else the batch's digest),
 * enqueue; with a watermark a flow that commits it after every insert.
 */
export async function ingestIocs(
  producer: Producer<readonly AnyJobDefinition[]>,
  limits: IngestLimits,
  input: IngestIocsInput,
): Promise<IngestResult> {
  const { idempotencyKey, ...body } = input;
  const batch = parseIngest(
    Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)),
    limits,
    { sourceOptional: true },
  );
  if (idempotencyKey !== undefined) {
    const key = idempotencyKeySchema.safeParse(idempotencyKey);
    if (!key.success) throw ValidationError.fromZod(key.error, 'idempotencyKey');
  }
  return enqueueIngest(producer, batch, {
    key: ingestKey(batch, idempotencyKey),
    keyScope: APP_KEY_SCOPE,
  });
}
