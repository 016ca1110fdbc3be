import { z } from 'zod';
import { detectionSchema, type Detection } from '../../src/domain/detection.js';
import { sourceIdSchema } from '../../src/domain/watermark.js';
import { ValidationError } from '../../src/errors/index.js';
import { requestDigest } from '../../src/stores/redis/idempotency-store.js';
import type { AnyJobDefinition } from '../../jobs/job-definition.js';
import { jobIdForKey } from '../../jobs/job-id.js';
import type { Producer } from '../producer.js';
import { ingestBodySchema, type IngestLimits } from './ingest-iocs.js';

/**
 * A detector's batch: the detections, and optionally the run it completes (a watermark of
 * `source_id`, committed once every detection is stored). Limits are IOC ingest's
 * (INGEST_MAX_IOCS records a request, INGEST_CHUNK_SIZE a job).
 */
export function detectionIngestBodySchema(limits: IngestLimits) {
  return z
    .strictObject({
      source_id: sourceIdSchema.optional(),
      detections: z
        .array(z.unknown())
        .min(1, 'at least one detection')
        .max(limits.maxIocs, `at most ${limits.maxIocs} detections per request`),
      // The same run as IOC ingest's.
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
export interface ParsedDetectionIngest {
  source_id: string | undefined;
  watermark: { timestamp: Date; records_collected?: number | undefined } | undefined;
  detections: Detection[];
  chunks: Detection[][];
  request: unknown;
  /** requestDigest(request): the idempotency key when none is given. */
  readonly digest: string;
}

const schemas = new WeakMap<IngestLimits, ReturnType<typeof detectionIngestBodySchema>>();

/**
 * Validates a batch as a whole: one bad record rejects it (a ValidationError naming its
 * index and field, `detections.3.severity`) and nothing is enqueued.
 */
export function parseDetectionIngest(input: unknown, limits: IngestLimits): ParsedDetectionIngest {
  let schema = schemas.get(limits);
  if (!schema) {
    schema = detectionIngestBodySchema(limits);
    schemas.set(limits, schema);
  }
  const parsedBody = schema.safeParse(input);
  if (!parsedBody.success) throw ValidationError.fromZod(parsedBody.error);
  const { source_id, watermark } = parsedBody.data;

  const detections: Detection[] = [];
  const issues: ValidationError['issues'] = [];
  parsedBody.data.detections.forEach((raw, i) => {
    const parsed = detectionSchema.safeParse(raw);
    if (parsed.success) detections.push(parsed.data);
    else issues.push(...ValidationError.fromZod(parsed.error, `detections.${i}`).issues);
  });
  if (issues.length > 0) throw new ValidationError(issues.slice(0, 100));

  const chunks: Detection[][] = [];
  for (let i = 0; i < detections.length; i += limits.chunkSize)
    chunks.push(detections.slice(i, i + limits.chunkSize));
  const request = { source_id, watermark, detections };
  let digest: string | undefined;
  return {
    source_id,
    watermark,
    detections,
    chunks,
    request,
    get digest() {
      digest ??= requestDigest(request);
      return digest;
    },
  };
}

/** What a detection ingest enqueued: plain detections.insert jobs, or a watermark.commit flow. */
export type DetectionIngestResult =
  | { source_id: string | null; detections: number; jobs: { id: string; type: string }[] }
  | {
      id: string;
      type: 'watermark.commit';
      source_id: string;
      detections: number;
      chunks: number;
      /** The flow was there already (a retry of a batch that enqueued but did not answer). */
      replayed: boolean;
      children: string[];
      status_url: string;
    };

/**
 * Enqueues a parsed batch as detections.insert jobs whose ids derive from `key` (the same
 * key and batch enqueue nothing twice); with a watermark, as the children of a
 * watermark.commit flow, as IOC ingest does (queues/use-cases/ingest-iocs.ts).
 */
export async function enqueueDetectionIngest(
  producer: Producer<readonly AnyJobDefinition[]>,
  batch: ParsedDetectionIngest,
  scoped: { key: string; keyScope: string },
): Promise<DetectionIngestResult> {
  const { source_id, watermark, detections, chunks } = batch;
  const { key, keyScope } = scoped;
  if (!watermark || source_id === undefined) {
    const jobs = await producer.enqueueBulkByName(
      'detections.insert',
      chunks.map((chunk) => ({ detections: chunk })),
      { idempotencyKeys: chunks.map((_, i) => `${key}/${i}`), keyScope, validated: true },
    );
    return {
      source_id: source_id ?? null,
      detections: detections.length,
      jobs: jobs.map((j) => ({ id: j.id, type: j.name })),
    };
  }

  const parentId = jobIdForKey('watermark.commit', key, keyScope);
  const children = chunks.map((_, i) => jobIdForKey('detections.insert', `${key}/${i}`, keyScope));
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
          records_collected: watermark.records_collected ?? detections.length,
        },
      },
      children: chunks.map((chunk, i) => ({
        name: 'detections.insert',
        idempotencyKey: `${key}/${i}`,
        payload: { detections: chunk },
        validated: true,
      })),
    });
  }
  return {
    id: parentId,
    type: 'watermark.commit',
    source_id,
    detections: detections.length,
    chunks: chunks.length,
    replayed: existing,
    children,
    status_url: `/v1/jobs/${parentId}`,
  };
}
