import {
  iocKey,
  isHot,
  mergeIoc,
  type HotRule,
  type IocType,
  type StoredIoc,
} from '../../domain/ioc.js';
import type { HotStore } from './hot-store.js';
import type { RedisIocCache, SyncWrite } from '../redis/ioc-cache.js';

/** Most write-then-check rounds one sync makes; each round needs a concurrent upsert to lose. */
const MAX_ROUNDS = 5;

/** What a sync wrote. */
export interface CacheSyncResult {
  /** Indicators written to the cache (hot as the store holds them). */
  cached: number;
  /** Indicators removed from the cache (no longer hot, or gone from the store). */
  evicted: number;
}

/**
 * Makes the cache agree with the store for some indicators: the hot ones written as the
 * store holds them, the others removed. Two jobs touching one indicator can interleave
 * (A reads the store, B upserts and writes the cache, A writes its older copy), so every
 * write is followed by a re-read, and an indicator the store changed meanwhile is written
 * again. Whichever job writes last has then seen the store's latest state, and the cache
 * never keeps a copy older than the store's (nor an indicator that stopped being hot).
 */
export async function syncCache(
  store: Pick<HotStore, 'getMany'>,
  cache: Pick<RedisIocCache, 'putMany' | 'evictMany'>,
  keys: readonly { type: IocType; value: string }[],
  rule: HotRule,
  /** The store's rows for `keys` when the caller just read them (saves the first read). */
  snapshot?: readonly StoredIoc[],
): Promise<CacheSyncResult> {
  const result: CacheSyncResult = { cached: 0, evicted: 0 };
  let pending = dedupe(keys);
  let rows = snapshot ?? (pending.length === 0 ? [] : await store.getMany(pending));
  for (let round = 0; round < MAX_ROUNDS && pending.length > 0; round++) {
    const now = new Date();
    const written = new Map(rows.map((r) => [iocKey(r), r]));
    const hot = rows.filter((r) => isHot(r, rule, now));
    const cold = pending.filter((k) => {
      const row = written.get(iocKey(k));
      return row === undefined || !isHot(row, rule, now);
    });
    result.cached += await cache.putMany(hot);
    result.evicted += await cache.evictMany(cold);

    const after = await store.getMany(pending);
    const afterByKey = new Map(after.map((r) => [iocKey(r), r]));
    pending = pending.filter((k) => !sameRow(written.get(iocKey(k)), afterByKey.get(iocKey(k))));
    const changed = new Set(pending.map(iocKey));
    rows = after.filter((r) => changed.has(iocKey(r)));
  }
  return result;
}

function sameRow(a: StoredIoc | undefined, b: StoredIoc | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return (
    a.threat_type === b.threat_type &&
    a.confidence === b.confidence &&
    a.first_seen.getTime() === b.first_seen.getTime() &&
    a.last_seen.getTime() === b.last_seen.getTime() &&
    a.sources.join('\n') === b.sources.join('\n') &&
    a.tags.join('\n') === b.tags.join('\n')
  );
}

function dedupe<K extends { type: IocType; value: string }>(keys: readonly K[]): K[] {
  const seen = new Map<string, K>();
  for (const k of keys) seen.set(iocKey(k), k);
  return [...seen.values()];
}

/**
 * Brings the cache in line with a batch just appended to a store that cannot say what its
 * merge changed (ClickHouse), without reading the batch back. The merge is commutative,
 * associative and idempotent, so:
 * - an indicator cached already takes the sighting by a merge into its copy, written only
 *   if the copy is still the one merged into (compare-and-set): the copy was the store's
 *   row once, every later sighting is merged into it by its own job, so it stays the row;
 * - an uncached indicator whose sighting is not hot stays uncached (its row is hot only if
 *   an older sighting is latest and hot, and the cache need not hold every hot row);
 * - an uncached indicator whose sighting is hot is read from the store (only those) and
 *   written only if no other sync of its stripe opened since this one did — a sync opens
 *   after its append, so a read that follows the opening sees every append whose sync
 *   opened before, and any later sync finds the copy cached and merges into it.
 * A write that does not land is computed again; after MAX_ROUNDS the indicator is evicted,
 * which is never stale. `batch` holds one merged record per indicator.
 */
export async function syncCacheByJoin(
  store: Pick<HotStore, 'getMany'>,
  cache: Pick<RedisIocCache, 'openSync' | 'commitSync' | 'evictMany'>,
  batch: readonly StoredIoc[],
  rule: HotRule,
): Promise<CacheSyncResult> {
  const result: CacheSyncResult = { cached: 0, evicted: 0 };
  let pending = [...batch];
  for (let round = 0; round < MAX_ROUNDS && pending.length > 0; round++) {
    const opened = await cache.openSync(pending);
    const now = new Date();
    const writes: { write: SyncWrite; sighting: StoredIoc }[] = [];
    const toRead: { sighting: StoredIoc; epoch: string }[] = [];
    pending.forEach((sighting, i) => {
      const { epoch, raw, cached } = opened[i]!;
      if (raw !== undefined && cached !== undefined) {
        const merged = mergeIoc(cached, sighting);
        const row = isHot(merged, rule, now) ? merged : undefined;
        writes.push({ write: { ...keyOf(sighting), mode: 'join', expected: raw, row }, sighting });
      } else if (isHot(sighting, rule, now)) {
        toRead.push({ sighting, epoch });
      }
    });
    if (toRead.length > 0) {
      const rows = new Map(
        (await store.getMany(toRead.map((r) => r.sighting))).map((r) => [iocKey(r), r]),
      );
      for (const { sighting, epoch } of toRead) {
        const row = rows.get(iocKey(sighting));
        if (row === undefined || !isHot(row, rule, now)) continue;
        writes.push({
          write: { ...keyOf(sighting), mode: 'read', expected: epoch, row },
          sighting,
        });
      }
    }
    const conflicts = new Set(await cache.commitSync(writes.map((w) => w.write)));
    writes.forEach(({ write }, i) => {
      if (conflicts.has(i)) return;
      if (write.row === undefined) result.evicted++;
      else result.cached++;
    });
    pending = writes.filter((_, i) => conflicts.has(i)).map((w) => w.sighting);
  }
  // Deleting is never stale; a sync that merged into the deleted copy finds it gone.
  if (pending.length > 0) result.evicted += await cache.evictMany(pending);
  return result;
}

const keyOf = (k: { type: IocType; value: string }) => ({ type: k.type, value: k.value });
