import { z } from 'zod';
import { IOC_TYPES, type StoredIoc } from '../ioc.js';

/** An IOC as stored: every sighting merged. */
export const iocViewSchema = z.strictObject({
  type: z.enum(IOC_TYPES),
  value: z.string(),
  threat_type: z.string(),
  confidence: z.number(),
  sources: z.array(z.string()),
  first_seen: z.iso.datetime(),
  last_seen: z.iso.datetime(),
  tags: z.array(z.string()),
});

/** `200` of `GET /v1/iocs/{type}/{value}`: whether the Redis cache answered, and the IOC. */
export const iocLookupSchema = z.strictObject({ cached: z.boolean(), ioc: iocViewSchema });

/** `200` of `DELETE /v1/cache/iocs/{type}/{value}`: whether the IOC was cached. */
export const cacheInvalidationSchema = z.strictObject({
  type: z.enum(IOC_TYPES),
  value: z.string(),
  invalidated: z.boolean(),
});

/**
 * `200` of `GET /v1/cache/stats`: counters and size of the IOC cache, under Stowage's names
 * and seed 000's (`hit_rate` as a percent, `ioc_keys`, `total_keys`, `used_memory`,
 * `connected_clients`).
 */
export const cacheStatsSchema = z.strictObject({
  hits: z.int(),
  misses: z.int(),
  hit_rate: z.number().describe('Hits as a percent of look-ups, 0..100 (seed 000).'),
  hit_ratio: z.number().describe('Hits as a fraction of look-ups, 0..1.'),
  keys: z.int().describe('Cached indicators whose TTL has not run out.'),
  ioc_keys: z.int().describe("The same count under seed 000's name."),
  total_keys: z.int().describe("Every key in the cache Redis's database (DBSIZE)."),
  used_memory: z
    .string()
    .nullable()
    .describe("Redis's used_memory_human; null if INFO is refused."),
  used_memory_bytes: z.int().nullable().describe("Redis's used_memory in bytes."),
  connected_clients: z.int().nullable().describe("Redis's connected_clients."),
});

/** `GET /v1/iocs/{type}/{value}`'s answer. */
export type IocLookup = z.output<typeof iocLookupSchema>;
/** An IOC as the API shows it. */
export type IocView = z.output<typeof iocViewSchema>;
/** `DELETE /v1/cache/iocs/{type}/{value}`'s answer. */
export type CacheInvalidation = z.output<typeof cacheInvalidationSchema>;

/** A stored IOC as the API shows it: dates as ISO 8601. */
export function toIocView(ioc: StoredIoc): IocView {
  return {
    ...ioc,
    first_seen: ioc.first_seen.toISOString(),
    last_seen: ioc.last_seen.toISOString(),
  };
}
