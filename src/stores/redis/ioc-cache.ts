import type { Redis } from 'ioredis';
import type { IocType, StoredIoc } from '../../domain/ioc.js';

/** Cache counters and size, as `GET /v1/cache/stats` shows them. */
export interface CacheStats {
  hits: number;
  misses: number;
  /** Hits as a percent of look-ups, 0..100 (seed 000's `hit_rate`); 0 before any look-up. */
  hit_rate: number;
  /** Hits as a fraction of look-ups, 0..1. */
  hit_ratio: number;
  /** Cached indicators whose TTL has not run out (from the expiry index, not a SCAN). */
  keys: number;
  /** The same count under seed 000's name. */
  ioc_keys: number;
  /** Every key in the cache Redis's database (DBSIZE; queue keys too when it is the queue Redis). */
  total_keys: number;
  /** Redis's `used_memory_human` (`2.5M`), as seed 000 shows it; null when INFO is refused. */
  used_memory: string | null;
  /** Redis's `used_memory` in bytes; null when INFO is refused. */
  used_memory_bytes: number | null;
  /** Redis's `connected_clients`; null when INFO is refused. */
  connected_clients: number | null;
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

  /** The cached indicator, or undefined; counts the hit or miss. */
  async lookup(type: IocType, value: string): Promise<StoredIoc | undefined> {
    const raw = await this.redis.get(this.key(type, value));
    // Not awaited: a look-up answers after one round trip, not two. Commands on one
    // connection run in order, so a stats read that follows still sees this count.
    this.redis.hincrby(this.statsKey, raw === null ? 'misses' : 'hits', 1).catch(() => undefined);
    if (raw === null) return undefined;
    const json = JSON.parse(raw) as CachedJson;
    return { ...json, first_seen: new Date(json.first_seen), last_seen: new Date(json.last_seen) };
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
   * Hits, misses, hit rate, the number of cached indicators and the server's memory and
   * clients (seed 000's get_cache_stats names): one pipeline of constant cost whatever the
   * cache holds (an HGETALL, a script doing a ZCOUNT and a bounded prune, DBSIZE, INFO).
   */
  async stats(): Promise<CacheStats> {
    const results =
      (await this.redis
        .pipeline()
        .hgetall(this.statsKey)
        .eval(COUNT_SCRIPT, 1, this.indexKey, PRUNE_BATCH)
        .dbsize()
        .info('memory')
        .info('clients')
        .exec()) ?? [];
    const [counters, count, dbsize] = [0, 1, 2].map((i) => {
      const [err, value] = results[i] ?? [new Error('no answer'), undefined];
      if (err) throw err;
      return value;
    }) as [Record<string, string>, number, number];
    // A managed Redis may refuse INFO: the server fields are then null, the counts stand.
    const info = [3, 4]
      .map((i) => {
        const [err, text] = results[i] ?? [null, ''];
        return !err && typeof text === 'string' ? text : '';
      })
      .join('\n');
    const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
    const number = (name: string) => {
      const value = Number(field(name) ?? NaN);
      return Number.isFinite(value) ? value : null;
    };
    const hits = Number(counters.hits ?? 0);
    const misses = Number(counters.misses ?? 0);
    const total = hits + misses;
    return {
      hits,
      misses,
      hit_rate: total === 0 ? 0 : (hits * 100) / total,
      hit_ratio: total === 0 ? 0 : hits / total,
      keys: Number(count),
      ioc_keys: Number(count),
      total_keys: Number(dbsize),
      used_memory: field('used_memory_human') ?? null,
      used_memory_bytes: number('used_memory'),
      connected_clients: number('connected_clients'),
    };
  }
}
