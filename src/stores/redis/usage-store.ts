import type { Redis } from 'ioredis';
import { UTC_DAY_MS, utcDayOf } from '../../domain/utc-day.js';

/** What is accounted per tenant and UTC day. */
export const USAGE_FIELDS = [
  'bytes',
  'rows',
  'jobs_enqueued',
  'jobs_completed',
  'jobs_failed',
] as const;
export type UsageField = (typeof USAGE_FIELDS)[number];

/** One tenant's usage of one day. */
export type TenantUsage = Record<UsageField, number>;

/** How many days of usage Redis keeps (GET /v1/usage reads at most this far back). */
export const USAGE_DAYS_KEPT = 35;

/**
 * Usage per tenant and UTC day in the queue Redis: one hash a day, fields `<tenant>|<field>`,
 * incremented where the work is accepted (api: bytes, jobs enqueued) and where it ends
 * (worker: rows, jobs completed and failed). Each day's hash expires USAGE_DAYS_KEPT days on.
 */
export class RedisUsageStore {
  constructor(
    private readonly redis: Redis,
    private readonly options: { prefix: string },
  ) {}

  /** Adds to a tenant's counters of the day `at` falls on (UTC); zeros are skipped. */
  async add(tenant: string, amounts: Partial<TenantUsage>, at = new Date()): Promise<void> {
    const key = this.key(utcDayOf(at));
    const pipeline = this.redis.pipeline();
    let any = false;
    for (const field of USAGE_FIELDS) {
      const n = amounts[field];
      if (n === undefined || !Number.isFinite(n) || n <= 0) continue;
      pipeline.hincrby(key, `${tenant}|${field}`, Math.round(n));
      any = true;
    }
    if (!any) return;
    pipeline.expire(key, USAGE_DAYS_KEPT * 86_400);
    await pipeline.exec();
  }

  /** One counter of a tenant's day (bytes so far today, for the bytes_day quota). */
  async read(tenant: string, field: UsageField, at = new Date()): Promise<number> {
    return Number((await this.redis.hget(this.key(utcDayOf(at)), `${tenant}|${field}`)) ?? 0);
  }

  /**
   * The usage of the last `days` UTC days up to `until` (newest first), of one tenant or of
   * every tenant with any (tenant undefined); days without usage are listed empty.
   */
  async days(
    days: number,
    tenant: string | undefined,
    until = new Date(),
  ): Promise<{ day: string; tenants: Record<string, TenantUsage> }[]> {
    const list = Array.from({ length: days }, (_, i) =>
      utcDayOf(new Date(until.getTime() - i * UTC_DAY_MS)),
    );
    const pipeline = this.redis.pipeline();
    for (const day of list) {
      if (tenant === undefined) pipeline.hgetall(this.key(day));
      else pipeline.hmget(this.key(day), ...USAGE_FIELDS.map((f) => `${tenant}|${f}`));
    }
    const results = (await pipeline.exec()) ?? [];
    return list.map((day, i) => {
      const [err, value] = results[i] ?? [new Error('no answer'), undefined];
      if (err) throw err;
      const tenants: Record<string, TenantUsage> = {};
      if (tenant !== undefined) {
        const values = value as (string | null)[];
        if (values.some((v) => v !== null)) {
          tenants[tenant] = usageOf((f) => values[USAGE_FIELDS.indexOf(f)] ?? null);
        }
      } else {
        const hash = value as Record<string, string>;
        const names = new Set(Object.keys(hash).map((k) => k.slice(0, k.lastIndexOf('|'))));
        for (const name of [...names].sort()) {
          tenants[name] = usageOf((f) => hash[`${name}|${f}`] ?? null);
        }
      }
      return { day, tenants };
    });
  }

  private key(day: string): string {
    return `${this.options.prefix}:usage:${day}`;
  }
}

function usageOf(read: (field: UsageField) => string | null): TenantUsage {
  return Object.fromEntries(USAGE_FIELDS.map((f) => [f, Number(read(f) ?? 0)])) as TenantUsage;
}
