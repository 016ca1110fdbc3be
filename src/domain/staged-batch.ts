import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * What a claim-checked job carries instead of its records: the SHA-256 of the records'
 * canonical JSON, as staged by the producer, and how many there are. The records
 * themselves live in the batch store (`job_batches`), keyed by the job and this digest.
 */
export const stagedBatchSchema = z.strictObject({
  digest: z.string().regex(/^[0-9a-f]{64}$/, 'a lower-case hex SHA-256'),
  records: z.number().int().min(1),
});

/** A reference to a staged batch. */
export type StagedBatch = z.output<typeof stagedBatchSchema>;

/** The canonical body of a batch of records and its reference. */
export function stagedBody(records: readonly unknown[]): StagedBatch & { body: string } {
  const body = JSON.stringify(records);
  return {
    body,
    digest: createHash('sha256').update(body).digest('hex'),
    records: records.length,
  };
}

/** A staged batch as a producer writes it: the records' canonical JSON and its digest. */
export interface BatchToStage extends StagedBatch {
  /** The job that carries the reference (BullMQ job id). */
  readonly jobId: string;
  readonly queue: string;
  /** What the records are (`iocs`). */
  readonly kind: string;
  /** The canonical JSON array of the validated records; `digest` is its SHA-256. */
  readonly body: string;
}

/** Writes staged batches: what a producer needs (the api, the in-process producer). */
export interface BatchStager {
  stage(batches: readonly BatchToStage[]): Promise<void>;
}

/**
 * What a claim-checked job's worker parses: the staged reference `{ batch }`, or — the batch
 * store was away when the producer enqueued, or an older producer — the records inline,
 * validated here by the job's own payload schema. Each form's own errors name their field.
 */
export function storedOrInline<P extends z.ZodType>(payload: P) {
  const staged = z.strictObject({ batch: stagedBatchSchema });
  return z.unknown().transform((value, ctx): z.output<typeof staged> | z.output<P> => {
    const form = value !== null && typeof value === 'object' && 'batch' in value ? staged : payload;
    const parsed = form.safeParse(value);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: issue.path });
    return z.NEVER;
  });
}
