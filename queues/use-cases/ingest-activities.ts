import { z } from 'zod';
import { activitySchema, type Activity } from '../../src/domain/activity.js';
import { idempotencyKeySchema } from '../../src/domain/idempotency-key.js';
import { timestampSchema } from '../../src/domain/timestamp.js';
import { sourceIdSchema } from '../../src/domain/watermark.js';
import { ValidationError } from '../../src/errors/index.js';
import { requestDigest } from '../../src/stores/redis/idempotency-store.js';
import type { AnyJobDefinition } from '../../jobs/job-definition.js';
import { APP_KEY_SCOPE, jobIdForKey } from '../../jobs/job-id.js';
import type { Producer } from '../producer.js';

/** Limits of one activity batch (the IOC batch's: INGEST_MAX_IOCS, INGEST_CHUNK_SIZE). */
export interface ActivityIngestLimits {
  maxActivities: number;
  chunkSize: number;
}

/**
 * An activity batch as a collector sends it; each record is then checked by activitySchema.
 * `source_id` names the collection (the watermark's source, `mde_logs`), not an event's
 * `source`: it is needed only with a watermark.
 */
export function activityIngestBodySchema(limits: ActivityIngestLimits) {
  return z
    .strictObject({
      source_id: sourceIdSchema.optional(),
      activities: z
        .array(z.unknown())
        .min(1, 'at least one activity')
        .max(limits.maxActivities, `at most ${limits.maxActivities} activities per request`),
      watermark: z
        .strictObject({
          timestamp: timestampSchema,
          records_collected: z.number().int().min(0).optional(),
        })
        .optional(),
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

const schemas = new WeakMap<ActivityIngestLimits, ReturnType<typeof activityIngestBodySchema>>();

/** A batch checked record by record and split into chunks of at most `chunkSize` events. */
export interface ParsedActivityIngest {
  source_id: string | undefined;
  watermark: { timestamp: Date; records_collected?: number | undefined } | undefined;
  activities: Activity[];
  chunks: Activity[][];
  /** What the batch asks for: its digest is the idempotency key when none is given. */
  request: unknown;
  readonly digest: string;
}

/**
 * Validates a batch as a whole: one bad record rejects it (a ValidationError naming its
 * index and field, `activities.3.source`) and nothing is enqueued.
 */
export function parseActivityIngest(
  input: unknown,
  limits: ActivityIngestLimits,
): ParsedActivityIngest {
  let schema = schemas.get(limits);
  if (!schema) {
    schema = activityIngestBodySchema(limits);
    schemas.set(limits, schema);
  }
  const parsedBody = schema.safeParse(input);
  if (!parsedBody.success) throw ValidationError.fromZod(parsedBody.error);
  const { source_id, watermark } = parsedBody.data;

  const activities: Activity[] = [];
  const issues: ValidationError['issues'] = [];
  parsedBody.data.activities.forEach((raw, i) => {
    const parsed = activitySchema.safeParse(raw);
    if (parsed.success) activities.push(parsed.data);
    else issues.push(...ValidationError.fromZod(parsed.error, `activities.${i}`).issues);
  });
  if (issues.length > 0) throw new ValidationError(issues.slice(0, 100));

  const chunks: Activity[][] = [];
  for (let i = 0; i < activities.length; i += limits.chunkSize)
    chunks.push(activities.slice(i, i + limits.chunkSize));
  const request = { source_id, watermark, activities };
  let digest: string | undefined;
  return {
    source_id,
    watermark,
    activities,
    chunks,
    request,
    get digest() {
      digest ??= requestDigest(request);
      return digest;
    },
  };
}

/** What an activity ingest enqueued: activities.insert jobs, or a watermark.commit flow over them. */
export type ActivityIngestResult =
  | { source_id?: string; activities: number; jobs: { id: string; type: string }[] }
  | {
      id: string;
      type: 'watermark.commit';
      source_id: string;
      activities: number;
      chunks: number;
      /** The flow was there already (a retry of a batch that enqueued but did not answer). */
      replayed: boolean;
      children: string[];
      status_url: string;
    };

/**
 * Enqueues a parsed batch as bounded activities.insert jobs whose ids derive from `key` (the
 * same key and batch enqueue nothing twice). With a watermark, the inserts are the children
 * of a watermark.commit flow, so the watermark advances only after every insert succeeded.
 */
export async function enqueueActivityIngest(
  producer: Producer<readonly AnyJobDefinition[]>,
  batch: ParsedActivityIngest,
  scoped: { key: string; keyScope: string },
): Promise<ActivityIngestResult> {
  const { source_id, watermark, activities, chunks } = batch;
  const { key, keyScope } = scoped;
  if (!watermark || source_id === undefined) {
    const jobs = await producer.enqueueBulkByName(
      'activities.insert',
      chunks.map((chunk) => ({ activities: chunk })),
      // Each record was parsed above; the chunks are the schema's output already.
      { idempotencyKeys: chunks.map((_, i) => `${key}/${i}`), keyScope, validated: true },
    );
    return {
      ...(source_id === undefined ? {} : { source_id }),
      activities: activities.length,
      jobs: jobs.map((j) => ({ id: j.id, type: j.name })),
    };
  }

  // A retry of a request that enqueued but did not answer finds its flow already there.
  const parentId = jobIdForKey('watermark.commit', key, keyScope);
  const children = chunks.map((_, i) => jobIdForKey('activities.insert', `${key}/${i}`, keyScope));
  const existing = await producer.hasJob('watermark.commit', parentId);
  if (!existing) {
    await producer.enqueueFlow({
      keyScope,
      parent: {
        name: 'watermark.commit',
        idempotencyKey: key,
        payload: {
          source_id,
          timestamp: watermark.timestamp.toISOString(),
          status: 'success',
          records_collected: watermark.records_collected ?? activities.length,
        },
      },
      children: chunks.map((chunk, i) => ({
        name: 'activities.insert',
        idempotencyKey: `${key}/${i}`,
        payload: { activities: chunk },
        validated: true,
      })),
    });
  }
  return {
    id: parentId,
    type: 'watermark.commit',
    source_id,
    activities: activities.length,
    chunks: chunks.length,
    replayed: existing,
    children,
    status_url: `/v1/jobs/${parentId}`,
  };
}

/** An in-process activity ingest: the API's body, and the key the API takes from a header. */
export interface IngestActivitiesInput {
  activities: unknown[];
  source_id?: string | undefined;
  watermark?: { timestamp: Date | string; records_collected?: number | undefined } | undefined;
  /** The same key and batch are one set of jobs (or one flow); default: the batch's digest. */
  idempotencyKey?: string | undefined;
}

/**
 * Ingests an activity batch in one call, as the in-process producer does (seed 000's
 * store_activities_batch): validate, key, enqueue; with a watermark a flow that commits it
 * after every insert.
 */
export async function ingestActivities(
  producer: Producer<readonly AnyJobDefinition[]>,
  limits: ActivityIngestLimits,
  input: IngestActivitiesInput,
): Promise<ActivityIngestResult> {
  const { idempotencyKey, ...body } = input;
  const batch = parseActivityIngest(
    Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)),
    limits,
  );
  if (idempotencyKey !== undefined) {
    const key = idempotencyKeySchema.safeParse(idempotencyKey);
    if (!key.success) throw ValidationError.fromZod(key.error, 'idempotencyKey');
  }
  return enqueueActivityIngest(producer, batch, {
    key: idempotencyKey ?? batch.digest,
    keyScope: APP_KEY_SCOPE,
  });
}
