import type { Redis } from 'ioredis';
import type { IocType, StoredIoc } from '../../domain/ioc.js';

/** Cache counters and size, as `GET /v1/cache/stats` shows them. */
export interface CacheStats {
  hits: number;
  misses: number;
  hit_rate: number;
  /** Cached indicators whose TTL has not run out (from the expiry index, not a SCAN). */
  keys: number;
}

type CachedJson = Omit<StoredIoc, 'first_seen' | 'last_seen'> & {
  first_seen: string;
  last_seen: string;
};

/** Expired members dropped from the index per write batch or stats read, at most. */
const PRUNE_BATCH = 1_000;

/**
 * Writes a batch of indicators with the TTL and records each one's expiry (Redis's clock, in
 * ms) in the index, in one atomic step. KEYS: the index, then the cache keys. ARGV: the TTL
 * in s, then JSON and index member for each key in turn.
 */
const PUT_SCRIPT = `
local ttl = tonumber(ARGV[1])
local t = redis.call('TIME')
local expires = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + ttl * 1000
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[2 * i - 2], 'EX', ttl)
  redis.call('ZADD', KEYS[1], expires, ARGV[2 * i - 1])
end
return #KEYS - 1`;

/**
 * The live indicators: index members whose expiry is still ahead, by Redis's clock; drops up
 * to ARGV[1] members already past it, so the index stays about as large as the cache.
 * KEYS: the index. Returns the count.
 */
const COUNT_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
if #stale > 0 then redis.call('ZREM', KEYS[1], unpack(stale)) end
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')`;

/** Stripes of the sync epochs: a few MB of counters, few false conflicts per batch. */
const SYNC_STRIPES = 65_536;

/**
 * Opens a sync of some indicators: bumps each one's stripe epoch and reads its cached copy.
 * KEYS: n stripe keys, then n cache keys. Returns, per indicator, the epoch and the copy
 * (nil when not cached).
 */
const OPEN_SYNC_SCRIPT = `
local n = #KEYS / 2
local out = {}
for i = 1, n do
  out[2 * i - 1] = redis.call('INCR', KEYS[i])
  out[2 * i] = redis.call('GET', KEYS[n + i])
end
return out`;

/**
 * Commits a sync: each write lands only if nothing changed since it was computed. A join
 * ('j') needs the cached copy to be the one it merged into; a read ('r') needs the key
 * still uncached and its stripe epoch unchanged (no other sync of the stripe opened since
 * the store was read). KEYS: the index, then stripe and cache key per write. ARGV: the TTL,
 * then mode, expected, value ('' = delete) and index member per write. Returns the
 * 1-based positions of the writes that did not land.
 */
const COMMIT_SYNC_SCRIPT = `
local ttl = tonumber(ARGV[1])
local t = redis.call('TIME')
local expires = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + ttl * 1000
local conflicts = {}
for i = 1, (#KEYS - 1) / 2 do
  local key = KEYS[2 * i + 1]
  local mode, expected, value, member = ARGV[4 * i - 2], ARGV[4 * i - 1], ARGV[4 * i], ARGV[4 * i + 1]
  local current = redis.call('GET', key)
  local ok
  if mode == 'j' then
    ok = current == expected
  else
    ok = current == false and redis.call('GET', KEYS[2 * i]) == expected
  end
  if ok then
    if value == '' then
      redis.call('DEL', key)
      redis.call('ZREM', KEYS[1], member)
    else
      redis.call('SET', key, value, 'EX', ttl)
      redis.call('ZADD', KEYS[1], expires, member)
    end
  else
    conflicts[#conflicts + 1] = i
  end
end
return conflicts`;

/** An indicator's state when a sync opened: its stripe epoch and cached copy, if any. */
export interface OpenedSync {
  epoch: string;
  /** The cached JSON as stored (compared byte for byte at commit). */
  raw?: string;
  cached?: StoredIoc;
}

/** One write of a sync: a join into a cached copy, or a store row for an uncached key. */
export interface SyncWrite {
  type: string;
  value: string;
  mode: 'join' | 'read';
  /** join: the cached JSON merged into; read: the stripe epoch before the store was read. */
  expected: string;
  /** The row to cache, or undefined to delete the key. */
  row: StoredIoc | undefined;
}

function parseCached(raw: string): StoredIoc {
  const json = JSON.parse(raw) as CachedJson;
  return { ...json, first_seen: new Date(json.first_seen), last_seen: new Date(json.last_seen) };
}

/**
 * The hot-IOC cache in Redis: one JSON string per indicator with a TTL, written by
 * pipelines, read by the API's cache-first look-up. Counters live beside the keys, and an
 * expiry index (a sorted set: indicator → when its key expires) beside them, so that the
 * number of cached indicators is a ZCOUNT, not a SCAN of the keyspace. Each write and delete
 * updates the index atomically with the key; a key expiring by TTL leaves the count as its
 * expiry passes, without a write. Not counted right: keys Redis evicts under maxmemory, or
 * that anything but this class writes or deletes (they count until their expiry passes).
 */
export class RedisIocCache {
  private readonly statsKey: string;
  private readonly indexKey: string;

  constructor(
    private readonly redis: Redis,
    private readonly options: { prefix: string; ttlSeconds: number },
  ) {
    this.statsKey = `${options.prefix}:cache-stats`;
    this.indexKey = `${options.prefix}:cache-expiry`;
  }

  private key(type: string, value: string): string {
    return `${this.options.prefix}:ioc:${type}:${value}`;
  }

  private member(type: string, value: string): string {
    return `${type}:${value}`;
  }

  /** Writes indicators with the TTL in one script call per 1,000; returns how many were written. */
  async putMany(iocs: readonly StoredIoc[]): Promise<number> {
    for (let i = 0; i < iocs.length; i += 1_000) {
      const batch = iocs.slice(i, i + 1_000);
      const keys = batch.map((ioc) => this.key(ioc.type, ioc.value));
      const args = batch.flatMap((ioc) => [JSON.stringify(ioc), this.member(ioc.type, ioc.value)]);
      const results = await this.redis
        .pipeline()
        .eval(PUT_SCRIPT, keys.length + 1, this.indexKey, ...keys, this.options.ttlSeconds, ...args)
        .eval(COUNT_SCRIPT, 1, this.indexKey, PRUNE_BATCH)
        .exec();
      const failed = (results ?? []).find(([err]) => err);
      if (failed?.[0]) throw failed[0];
    }
    return iocs.length;
  }

  /** Removes indicators in one transaction per 1,000; returns how many were asked for. */
  async evictMany(keys: readonly { type: string; value: string }[]): Promise<number> {
    for (let i = 0; i < keys.length; i += 1_000) {
      const batch = keys.slice(i, i + 1_000);
      const results = await this.redis
        .multi()
        .del(...batch.map((k) => this.key(k.type, k.value)))
        .zrem(this.indexKey, ...batch.map((k) => this.member(k.type, k.value)))
        .exec();
      const failed = (results ?? []).find(([err]) => err);
      if (failed?.[0]) throw failed[0];
    }
    return keys.length;
  }

  /**
   * Opens a sync (see cache-sync.ts, syncCacheByJoin): per indicator, its stripe epoch
   * after a bump and its cached copy, in one script call per 1,000.
   */
  async openSync(keys: readonly { type: string; value: string }[]): Promise<OpenedSync[]> {
    const opened: OpenedSync[] = [];
    for (let i = 0; i < keys.length; i += 1_000) {
      const batch = keys.slice(i, i + 1_000);
      const reply = (await this.redis.eval(
        OPEN_SYNC_SCRIPT,
        batch.length * 2,
        ...batch.map((k) => this.stripeKey(k.type, k.value)),
        ...batch.map((k) => this.key(k.type, k.value)),
      )) as (number | string | null)[];
      for (let j = 0; j < batch.length; j++) {
        const raw = reply[2 * j + 1];
        opened.push({
          epoch: String(reply[2 * j]),
          ...(typeof raw === 'string' ? { raw, cached: parseCached(raw) } : {}),
        });
      }
    }
    return opened;
  }

  /** Commits a sync's writes; returns the positions (0-based) of those that did not land. */
  async commitSync(writes: readonly SyncWrite[]): Promise<number[]> {
    const conflicts: number[] = [];
    for (let i = 0; i < writes.length; i += 1_000) {
      const batch = writes.slice(i, i + 1_000);
      const reply = (await this.redis.eval(
        COMMIT_SYNC_SCRIPT,
        1 + batch.length * 2,
        this.indexKey,
        ...batch.flatMap((w) => [this.stripeKey(w.type, w.value), this.key(w.type, w.value)]),
        this.options.ttlSeconds,
        ...batch.flatMap((w) => [
          w.mode === 'join' ? 'j' : 'r',
          w.expected,
          w.row === undefined ? '' : JSON.stringify(w.row),
          this.member(w.type, w.value),
        ]),
      )) as number[];
      conflicts.push(...reply.map((n) => i + n - 1));
    }
    return conflicts;
  }

  private stripeKey(type: string, value: string): string {
    // FNV-1a over the member: the same indicator always bumps the same stripe.
    const text = this.member(type, value);
    let hash = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) {
      hash ^= text.charCodeAt(i);
      hash = Math.imul(hash, 0x01000193);
    }
    return `${this.options.prefix}:cache-sync:${(hash >>> 0) % SYNC_STRIPES}`;
  }

  /** The cached indicator, or undefined; counts the hit or miss. */
  async lookup(type: IocType, value: string): Promise<StoredIoc | undefined> {
    const raw = await this.redis.get(this.key(type, value));
    // Not awaited: a look-up answers after one round trip, not two. Commands on one
    // connection run in order, so a stats read that follows still sees this count.
    this.redis.hincrby(this.statsKey, raw === null ? 'misses' : 'hits', 1).catch(() => undefined);
    if (raw === null) return undefined;
    return parseCached(raw);
  }

  /** Seconds the cached key still lives (-2 when absent), for tests and operators. */
  async ttl(type: IocType, value: string): Promise<number> {
    return this.redis.ttl(this.key(type, value));
  }

  /** Removes one indicator from the cache; whether it was there. */
  async invalidate(type: IocType, value: string): Promise<boolean> {
    const results = await this.redis
      .multi()
      .del(this.key(type, value))
      .zrem(this.indexKey, this.member(type, value))
      .exec();
    const [err, deleted] = results?.[0] ?? [new Error('transaction discarded'), 0];
    if (err) throw err;
    return deleted === 1;
  }

  /**
   * Hits, misses, hit rate and the number of cached indicators: two commands whatever the
   * cache holds (an HGETALL and a script doing a ZCOUNT and a bounded prune).
   */
  async stats(): Promise<CacheStats> {
    const [[countersErr, counters], [countErr, count]] = ((await this.redis
      .pipeline()
      .hgetall(this.statsKey)
      .eval(COUNT_SCRIPT, 1, this.indexKey, PRUNE_BATCH)
      .exec()) ?? []) as [[Error | null, Record<string, string>], [Error | null, number]];
    if (countersErr) throw countersErr;
    if (countErr) throw countErr;
    const hits = Number(counters.hits ?? 0);
    const misses = Number(counters.misses ?? 0);
    return {
      hits,
      misses,
      hit_rate: hits + misses === 0 ? 0 : hits / (hits + misses),
      keys: Number(count),
    };
  }
}
