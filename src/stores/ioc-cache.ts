import type { Redis } from 'ioredis';
import type { IocType, StoredIoc } from '../domain/ioc.js';

/** Cache counters and size, as `GET /v1/cache/stats` shows them. */
export interface CacheStats {
  hits: number;
  misses: number;
  hit_rate: number;
  keys: number;
}

type CachedJson = Omit<StoredIoc, 'first_seen' | 'last_seen'> & {
  first_seen: string;
  last_seen: string;
};

/**
 * The hot-IOC cache in Redis: one JSON string per indicator with a TTL, written by
 * pipelines, read by the API's cache-first look-up. Counters live beside the keys.
 */
export class RedisIocCache {
  private readonly statsKey: string;

  constructor(
    private readonly redis: Redis,
    private readonly options: { prefix: string; ttlSeconds: number },
  ) {
    this.statsKey = `${options.prefix}:cache-stats`;
  }

  private key(type: string, value: string): string {
    return `${this.options.prefix}:ioc:${type}:${value}`;
  }

  /** Writes indicators with the TTL in one pipeline per 1,000; returns how many were written. */
  async putMany(iocs: readonly StoredIoc[]): Promise<number> {
    for (let i = 0; i < iocs.length; i += 1_000) {
      const pipeline = this.redis.pipeline();
      for (const ioc of iocs.slice(i, i + 1_000)) {
        pipeline.set(
          this.key(ioc.type, ioc.value),
          JSON.stringify(ioc),
          'EX',
          this.options.ttlSeconds,
        );
      }
      const results = (await pipeline.exec()) ?? [];
      const failed = results.find(([err]) => err);
      if (failed?.[0]) throw failed[0];
    }
    return iocs.length;
  }

  /** Removes indicators in one pipeline per 1,000; returns how many were asked for. */
  async evictMany(keys: readonly { type: string; value: string }[]): Promise<number> {
    for (let i = 0; i < keys.length; i += 1_000) {
      await this.redis.del(...keys.slice(i, i + 1_000).map((k) => this.key(k.type, k.value)));
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
    return (await this.redis.del(this.key(type, value))) === 1;
  }

  /** Hits, misses, hit rate and the number of cached indicators. */
  async stats(): Promise<CacheStats> {
    const counters = await this.redis.hgetall(this.statsKey);
    const hits = Number(counters.hits ?? 0);
    const misses = Number(counters.misses ?? 0);
    let keys = 0;
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(
        cursor,
        'MATCH',
        `${this.options.prefix}:ioc:*`,
        'COUNT',
        1_000,
      );
      cursor = next;
      keys += batch.length;
    } while (cursor !== '0');
    return { hits, misses, hit_rate: hits + misses === 0 ? 0 : hits / (hits + misses), keys };
  }
}
