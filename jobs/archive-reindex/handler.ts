import type { ArchiveIndex } from '../../src/stores/postgres/archive-index.js';
import type { ArchivedGenerationReader } from '../../src/stores/s3/archived-generation-reader.js';
import type { Handler } from '../job-definition.js';
import type { archiveReindexJob } from './definition.js';

/** What archive.reindex needs. */
export interface ArchiveReindexDeps {
  index: Pick<ArchiveIndex, 'unindexedGenerations' | 'addRows'>;
  generations: Pick<ArchivedGenerationReader, 'partKeys'>;
}

/** One day indexed. */
export interface ReindexedDay {
  day: string;
  generation: number;
  parts: number;
  rows: number;
}

/** The job's result. */
export interface ArchiveReindexResult {
  days: ReindexedDay[];
  rows: number;
}

/**
 * Backfills the archive index: for each day whose newest recorded generation has fewer index
 * rows than it holds (none: archived before the index existed; some: a run killed part-way),
 * oldest first, reads the generation back part by part (each object by the version the ledger
 * and manifest vouch for, checked against its SHA-256) and indexes its IOCs. Idempotent: the
 * index's key is (type, value, day, generation), so a rerun rewrites the same rows.
 */
export function createArchiveReindexHandler(
  deps: ArchiveReindexDeps,
): Handler<typeof archiveReindexJob, ArchiveReindexResult> {
  return async (payload, ctx) => {
    const pending = await deps.index.unindexedGenerations(payload.max_days);
    ctx.log.info({ days: pending.map((g) => g.day) }, 'indexing archived days');
    const result: ArchiveReindexResult = { days: [], rows: 0 };
    for (const [n, generation] of pending.entries()) {
      ctx.signal.throwIfAborted();
      let rows = 0;
      let parts = 0;
      for await (const { part, keys } of deps.generations.partKeys(generation)) {
        await deps.index.addRows(generation.day, generation.generation, part, keys);
        rows += keys.length;
        parts += 1;
        ctx.signal.throwIfAborted();
      }
      result.days.push({ day: generation.day, generation: generation.generation, parts, rows });
      result.rows += rows;
      ctx.log.info(
        { day: generation.day, generation: generation.generation, parts, rows },
        'archived day indexed',
      );
      await ctx.progress({
        percent: Math.floor(((n + 1) / pending.length) * 100),
        day: generation.day,
        rows: result.rows,
      });
    }
    return result;
  };
}
