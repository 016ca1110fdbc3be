import { iocKey, isHot, type HotRule, type IocType, type StoredIoc } from '../../domain/ioc.js';
import type { HotStore } from './hot-store.js';
import type { RedisIocCache } from '../redis/ioc-cache.js';

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
