import { canonicalDetections } from '../../src/domain/detection.js';
import type { PostgresBatchStore } from '../../src/stores/postgres/batch-store.js';
import type { PostgresDetectionStore } from '../../src/stores/postgres/detection-store.js';
import type { Handler } from '../job-definition.js';
import type { detectionsInsertJob } from './definition.js';

/** What detections.insert needs. */
export interface DetectionsInsertDeps {
  detections: Pick<PostgresDetectionStore, 'upsertBatch'>;
  /** Where producers staged the batches (the job carries a digest). */
  batches: Pick<PostgresBatchStore, 'load'>;
}

/**
 * Upserts a batch of detections in one statement (idempotent: a replay writes nothing).
 * A staged batch is the canonical JSON the producer wrote, checked against its digest and
 * handed to PostgreSQL as it is; an inline batch was validated by the runner.
 */
export function createDetectionsInsertHandler(
  deps: DetectionsInsertDeps,
): Handler<typeof detectionsInsertJob> {
  return async (payload, ctx) => {
    const [body, received] =
      'batch' in payload
        ? [await deps.batches.load(ctx.jobId, payload.batch), payload.batch.records]
        : [JSON.stringify(canonicalDetections(payload.detections)), payload.detections.length];
    const { written } = await deps.detections.upsertBatch(body);
    ctx.metrics.rowsInserted(written);
    await ctx.progress(100);
    ctx.log.info({ received, written }, 'detections upserted');
    return { received, written };
  };
}
