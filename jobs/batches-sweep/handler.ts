import type { PostgresBatchStore } from '../../src/stores/postgres/batch-store.js';
import type { DeadLetterStore } from '../../src/stores/postgres/dead-letter-store.js';
import type { Handler } from '../job-definition.js';
import type { batchesSweepJob } from './definition.js';

/** Whether each job still exists in its queue (any state), by queue name and job id. */
export type JobsExist = (refs: readonly { queue: string; jobId: string }[]) => Promise<boolean[]>;

/** What batches.sweep needs. */
export interface BatchesSweepDeps {
  readonly batches: Pick<PostgresBatchStore, 'sweep'>;
  readonly jobsExist: JobsExist;
  /** Dead letters not yet retried keep their job's batch: a retry reads it. */
  readonly deadLetters: Pick<DeadLetterStore, 'holdsBatches'>;
}

/**
 * Whether each batch is still needed: its job exists, or a dead letter of that job waits to
 * be retried (the job itself may be gone with the queue's retention).
 */
function batchesInUse(deps: BatchesSweepDeps): JobsExist {
  return async (refs) => {
    const exist = await deps.jobsExist(refs);
    const gone = refs.flatMap((ref, i) => (exist[i] ? [] : [{ ref, i }]));
    const held = await deps.deadLetters.holdsBatches(gone.map((g) => g.ref));
    const inUse = [...exist];
    gone.forEach((g, k) => {
      if (held[k]) inUse[g.i] = true;
    });
    return inUse;
  };
}

/** Pages of batches looked at per round trip. */
const PAGE = 5_000;

/**
 * Removes the staged batches older than the grace whose job is gone: a retained job keeps
 * its batch (a retry from the dashboard reads the same bytes), and so does a dead letter of
 * the job until it is retried or removed; a job BullMQ removed, with no such dead letter, no
 * longer needs it. Idempotent: a rerun finds only what is left.
 */
export function createBatchesSweepHandler(deps: BatchesSweepDeps): Handler<typeof batchesSweepJob> {
  const inUse = batchesInUse(deps);
  return async (payload, ctx) => {
    let examined = 0;
    let removed = 0;
    let offsetPages = 0;
    while (examined < payload.limit) {
      const page = await deps.batches.sweep({
        graceSeconds: payload.older_than_minutes * 60,
        limit: Math.min(PAGE, payload.limit - examined),
        dry: payload.dry_run,
        jobsExist: inUse,
        // A dry run removes nothing, so it pages on; a real one finds the next page first.
        skip: payload.dry_run ? offsetPages * PAGE : 0,
      });
      examined += page.examined;
      removed += page.removed;
      offsetPages++;
      if (page.examined < PAGE) break;
      // A page of live jobs only: the next page would be the same one.
      if (!payload.dry_run && page.removed === 0) break;
      if (ctx.signal.aborted) break;
    }
    ctx.log.info({ examined, removed, dry_run: payload.dry_run }, 'staged batches swept');
    return { dry_run: payload.dry_run, examined, removed };
  };
}
