import { formatTimestamp, type CommitOutcome } from '../../src/domain/watermark.js';
import type { WatermarkStore } from '../../src/stores/postgres/watermark-store.js';
import type { Handler, JobContext } from '../job-definition.js';
import type { watermarkCommitJob } from './definition.js';

/** What a watermark.commit job returns (shown by the job status route). */
export interface WatermarkCommitResult {
  outcome: CommitOutcome;
  last_successful_timestamp: string | null;
}

/**
 * Sums the `written` counts of the job's flow children (the iocs.insert jobs of a batch);
 * undefined when no child reported one, including when the job has no children.
 */
async function writtenByChildren(ctx: JobContext): Promise<number | undefined> {
  let total: number | undefined;
  for (const result of Object.values(await ctx.childResults())) {
    const written = (result as { written?: unknown } | null)?.written;
    if (typeof written === 'number' && Number.isFinite(written) && written >= 0) {
      total = (total ?? 0) + written;
    }
  }
  return total;
}

/** Builds the watermark.commit handler: commits the run under the job id, so a replay is a no-op. */
export function createWatermarkCommitHandler(deps: {
  watermarks: Pick<WatermarkStore, 'commit'>;
}): Handler<typeof watermarkCommitJob, WatermarkCommitResult> {
  return async (payload, ctx) => {
    const { records_collected: given, ...rest } = payload;
    const records = given ?? (await writtenByChildren(ctx));
    const { watermark, outcome, replayed } = await deps.watermarks.commit(
      records === undefined ? rest : { ...rest, records_collected: records },
      ctx.jobId === '' ? {} : { jobId: ctx.jobId },
    );
    ctx.log.info(
      { source_id: payload.source_id, outcome, replayed },
      `watermark ${outcome}${replayed ? ' (replayed job)' : ''}`,
    );
    return {
      outcome,
      last_successful_timestamp:
        watermark.last_successful_timestamp === null
          ? null
          : formatTimestamp(watermark.last_successful_timestamp),
    };
  };
}
