import { canonicalActivityBatch, type StoredActivity } from '../../src/domain/activity.js';
import type { ActivityStore } from '../../src/stores/hot/activity-store.js';
import type { PostgresBatchStore } from '../../src/stores/postgres/batch-store.js';
import type { Handler } from '../job-definition.js';
import type { activitiesInsertJob } from './definition.js';

/** What activities.insert needs. */
export interface ActivitiesInsertDeps {
  activities: ActivityStore;
  /** Where producers staged the batches (the job carries a digest). */
  batches: Pick<PostgresBatchStore, 'load'>;
}

/**
 * Appends a batch to the activity store. Idempotent: an event already stored is left as it
 * is, so a retried or replayed job inserts nothing twice. The batch was validated once, by
 * the producer that staged it; on PostgreSQL the store reads it from the batch store itself,
 * elsewhere it is loaded here. An inline batch was validated by the runner.
 */
export function createActivitiesInsertHandler(
  deps: ActivitiesInsertDeps,
): Handler<typeof activitiesInsertJob> {
  return async (payload, ctx) => {
    let received: number;
    let written: number;
    if ('batch' in payload) {
      received = payload.batch.records;
      if (deps.activities.insertStaged) {
        ({ written } = await deps.activities.insertStaged(ctx.jobId, payload.batch));
      } else {
        const body = await deps.batches.load(ctx.jobId, payload.batch);
        ({ written } = await deps.activities.insert(JSON.parse(body) as StoredActivity[]));
      }
    } else {
      received = payload.activities.length;
      ({ written } = await deps.activities.insert(canonicalActivityBatch(payload.activities)));
    }
    ctx.metrics.rowsInserted(written);
    await ctx.progress(100);
    ctx.log.info({ received, written }, 'activities inserted');
    return { received, written };
  };
}
