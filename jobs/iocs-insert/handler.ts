import { iocKey, mergeBatch, type HotRule, type StoredIoc } from '../../src/domain/ioc.js';
import type { StagedBatch } from '../../src/domain/staged-batch.js';
import { TransientError } from '../../src/errors/index.js';
import { syncCache } from '../../src/stores/hot/cache-sync.js';
import type { HotStore, StagedChanges } from '../../src/stores/hot/hot-store.js';
import type { PostgresBatchStore } from '../../src/stores/postgres/batch-store.js';
import type { RedisIocCache } from '../../src/stores/redis/ioc-cache.js';
import type { Handler, JobContext } from '../job-definition.js';
import type { iocsInsertJob } from './definition.js';

/**
 * How long the cache writes of a merge may take while its row locks are held; past it the
 * merge is rolled back and the job retried (the cache Redis is away).
 */
const CACHE_WRITE_TIMEOUT_MS = 10_000;

/**
 * The store's rows for every key of the batch: those the upsert returned, and a read of
 * the keys it left unchanged (none on a first ingest, all on a replay).
 */
async function completeSnapshot(
  store: HotStore,
  batch: readonly StoredIoc[],
  changed: readonly StoredIoc[],
): Promise<StoredIoc[]> {
  const have = new Set(changed.map(iocKey));
  const missing = batch.filter((ioc) => !have.has(iocKey(ioc)));
  return missing.length === 0 ? [...changed] : [...changed, ...(await store.getMany(missing))];
}

/** What iocs.insert needs. */
export interface IocsInsertDeps {
  hotStore: HotStore;
  iocCache: RedisIocCache;
  hotRule: HotRule;
  /** Where producers staged the batches (the job carries a digest). */
  batches: Pick<PostgresBatchStore, 'load'>;
}

/** A staged batch read back: the canonical JSON the producer wrote after validating it. */
function parseStaged(body: string): StoredIoc[] {
  return (
    JSON.parse(body) as (Omit<StoredIoc, 'first_seen' | 'last_seen'> & {
      first_seen: string;
      last_seen: string;
    })[]
  ).map((r) => ({ ...r, first_seen: new Date(r.first_seen), last_seen: new Date(r.last_seen) }));
}

/**
 * Merges a batch into the hot store (idempotent: replaying it changes nothing) and brings
 * the cache in line with the merged rows: hot ones written, ones that stopped being hot
 * removed, never an older copy than the store's.
 *
 * The batch was validated once, by the producer that staged it; the job carries its digest.
 * On PostgreSQL the database merges it straight from the batch store and the cache is
 * written while the merge holds its row locks (so cache writes of one key happen in commit
 * order, with no read-back). On ClickHouse the batch is read from the batch store,
 * appended, and the cache synced by write-then-check (src/stores/hot/cache-sync.ts). An
 * inline batch (an older producer's) was validated by the runner and is upserted likewise.
 */
export function createIocsInsertHandler(deps: IocsInsertDeps): Handler<typeof iocsInsertJob> {
  return async (payload, ctx) => {
    if ('batch' in payload) {
      if (deps.hotStore.mergeStaged) return mergeInStore(deps, ctx, payload.batch);
      const batch = parseStaged(await deps.batches.load(ctx.jobId, payload.batch));
      return upsertAndSync(deps, ctx, batch, payload.batch.records);
    }
    return upsertAndSync(deps, ctx, mergeBatch(payload.iocs), payload.iocs.length);
  };
}

async function mergeInStore(deps: IocsInsertDeps, ctx: JobContext, batch: StagedBatch) {
  let cached = 0;
  let evicted = 0;
  const writeCache = async (changes: StagedChanges) => {
    cached = await deps.iocCache.putMany(changes.hot);
    evicted = changes.cooled.length > 0 ? await deps.iocCache.evictMany(changes.cooled) : 0;
  };
  const { written } = await deps.hotStore.mergeStaged!(ctx.jobId, batch, {
    hotRule: deps.hotRule,
    now: new Date(),
    beforeCommit: (changes) => withDeadline(writeCache(changes), CACHE_WRITE_TIMEOUT_MS),
    // Rolled back after the cache took the rows: take them out again (the retry writes them).
    afterRollback: async (changes) => {
      await deps.iocCache.evictMany(changes.hot);
    },
    // A cancel or a timeout rolls the merge back: the batch lands whole or not at all.
    signal: ctx.signal,
  });
  ctx.metrics.rowsInserted(written);
  await ctx.progress(100);
  ctx.log.info({ received: batch.records, written, cached, evicted }, 'iocs upserted');
  ctx.note(mergedNote(batch.records, written, cached, evicted));
  return { received: batch.records, written, cached };
}

async function upsertAndSync(
  deps: IocsInsertDeps,
  ctx: JobContext,
  batch: StoredIoc[],
  received: number,
) {
  const { written, changed } = await deps.hotStore.upsert(batch);
  ctx.metrics.rowsInserted(written);
  await ctx.progress(80);
  // Write the rows the store holds now (those the upsert returned, when it can say), then
  // re-read and write again what changed meanwhile.
  const { cached, evicted } = await syncCache(
    deps.hotStore,
    deps.iocCache,
    batch,
    deps.hotRule,
    changed && (await completeSnapshot(deps.hotStore, batch, changed)),
  );
  await ctx.progress(100);
  ctx.log.info({ received, written, cached, evicted }, 'iocs upserted');
  ctx.note(mergedNote(received, written, cached, evicted));
  return { received, written, cached };
}

/** The job log's line about a merged batch (ctx.note). */
function mergedNote(received: number, written: number, cached: number, evicted: number): string {
  return `batch merged: ${received} rows received, ${written} written to the hot store, ${cached} cached, ${evicted} evicted from the cache`;
}

async function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new TransientError(
            'backend_unavailable',
            `the cache did not take the merged rows within ${ms} ms`,
          ),
        ),
      ms,
    );
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
