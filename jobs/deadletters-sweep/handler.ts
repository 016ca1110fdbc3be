import type {
  DeadLetterInput,
  DeadLetterStore,
} from '../../src/stores/postgres/dead-letter-store.js';
import type { Handler } from '../job-definition.js';
import type { deadlettersSweepJob } from './definition.js';

/** A page of one queue's failed jobs (newest first) as dead letters. */
export type FailedJobs = (
  queue: string,
  offset: number,
  limit: number,
) => Promise<DeadLetterInput[]>;

/** What deadletters.sweep needs. */
export interface DeadlettersSweepDeps {
  readonly deadLetters: Pick<DeadLetterStore, 'record'>;
  /** The queues to look in (every Stowage queue). */
  readonly queues: readonly string[];
  readonly failedJobs: FailedJobs;
}

/** Failed jobs read per round trip. */
const PAGE = 500;

/**
 * Copies each queue's failed jobs into the dead-letter store. The store ignores a failure it
 * already holds (same queue, job and attempt), so the sweep and the worker's own hook never
 * make two rows of one failure, and a rerun copies only what is new.
 */
export function createDeadlettersSweepHandler(
  deps: DeadlettersSweepDeps,
): Handler<typeof deadlettersSweepJob> {
  return async (payload, ctx) => {
    let examined = 0;
    let recorded = 0;
    for (const queue of deps.queues) {
      for (let offset = 0; offset < payload.limit; offset += PAGE) {
        if (ctx.signal.aborted) break;
        const page = await deps.failedJobs(queue, offset, Math.min(PAGE, payload.limit - offset));
        examined += page.length;
        if (!payload.dry_run && page.length > 0) recorded += await deps.deadLetters.record(page);
        if (page.length < PAGE) break;
      }
    }
    ctx.log.info({ examined, recorded, dry_run: payload.dry_run }, 'dead letters swept');
    return { dry_run: payload.dry_run, examined, recorded };
  };
}
