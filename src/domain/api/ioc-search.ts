import { Readable } from 'node:stream';
import { z } from 'zod';
import { parseCidr, type Cidr } from '../cidr.js';
import { IOC_TYPES } from '../ioc.js';
import { iocViewSchema } from './iocs.js';

/** Most items one search page returns. */
export const MAX_SEARCH_LIMIT = 1000;
/** Most indicators `count=true` counts (the answer then says `count_capped`). */
export const MAX_SEARCH_COUNT = 100_000;
/** Most indicators one STIX export holds (the bundle then carries a continuation cursor). */
export const MAX_EXPORT_LIMIT = 1_000_000;

const slug = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'lower-case letters, digits, _ . - (1..64)');

// Query strings are text: a number must be one (`min_confidence=` is not 0).
const confidence = z
  .string()
  .regex(/^(?:\d+(?:\.\d*)?|\.\d+)$/, 'a number from 0 to 1')
  .transform(Number)
  .pipe(z.number().min(0).max(1));

const instant = z.iso
  .datetime({ offset: true, message: 'an ISO 8601 timestamp such as 2024-01-01T12:30:00Z' })
  .transform((v) => new Date(v));

const positiveInt = (max: number, fallback: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'a positive integer')
    .transform(Number)
    .pipe(z.number().int().min(1).max(max))
    .default(fallback);

const cidr = z.string().transform((raw, ctx): Cidr => {
  const parsed = parseCidr(raw);
  if (parsed === undefined) {
    ctx.addIssue({ code: 'custom', message: 'a network such as 10.0.0.0/8 or 2001:db8::/32' });
    return z.NEVER;
  }
  return parsed;
});

const filterShape = {
  type: z.enum(IOC_TYPES).optional().describe('IOC type.'),
  threat_type: slug.optional().describe('Threat type of the latest sighting (seed 000).'),
  min_confidence: confidence.optional().describe('Confidence at or above (0..1; score range).'),
  max_confidence: confidence.optional().describe('Confidence at or below (0..1).'),
  source: slug.optional().describe('A source that reported it.'),
  tag: slug.optional().describe('A tag it carries.'),
  cidr: cidr.optional().describe('IPs (ipv4/ipv6 IOCs) inside this network, e.g. 10.0.0.0/8.'),
  seen_since: instant.optional().describe('last_seen at or after.'),
  seen_until: instant.optional().describe('last_seen before.'),
  cursor: z.string().max(4096).optional().describe('`next_cursor` of the previous page.'),
};

type FilterInput = {
  min_confidence?: number | undefined;
  max_confidence?: number | undefined;
  seen_since?: Date | undefined;
  seen_until?: Date | undefined;
};

function checkRanges(q: FilterInput, ctx: z.core.$RefinementCtx): void {
  if (
    q.min_confidence !== undefined &&
    q.max_confidence !== undefined &&
    q.min_confidence > q.max_confidence
  ) {
    ctx.addIssue({ code: 'custom', path: ['max_confidence'], message: 'below min_confidence' });
  }
  if (q.seen_since !== undefined && q.seen_until !== undefined && q.seen_since >= q.seen_until) {
    ctx.addIssue({ code: 'custom', path: ['seen_until'], message: 'not after seen_since' });
  }
}

/** The query of `GET /v1/iocs`. */
export const iocSearchQuerySchema = z
  .strictObject({
    ...filterShape,
    limit: positiveInt(MAX_SEARCH_LIMIT, 100).describe(
      `Items per page (1..${MAX_SEARCH_LIMIT}, default 100).`,
    ),
    count: z
      .enum(['true', 'false'])
      .transform((v) => v === 'true')
      .optional()
      .describe(`Also count every match, up to ${MAX_SEARCH_COUNT} (see count_capped).`),
  })
  .superRefine(checkRanges);

/** The query of `GET /v1/export/stix`. */
export const stixExportQuerySchema = z
  .strictObject({
    ...filterShape,
    limit: positiveInt(MAX_EXPORT_LIMIT, MAX_EXPORT_LIMIT).describe(
      `Most indicators in the bundle (default and cap ${MAX_EXPORT_LIMIT}); past it the bundle's x_stowage_next_cursor continues.`,
    ),
  })
  .superRefine(checkRanges);

/** The validated query of a search. */
export type IocSearchQuery = z.output<typeof iocSearchQuerySchema>;
/** The validated query of a STIX export. */
export type StixExportQuery = z.output<typeof stixExportQuerySchema>;

/** `200` of `GET /v1/iocs`: a page in (type, value) order. */
export const iocSearchPageSchema = z.strictObject({
  items: z.array(iocViewSchema),
  next_cursor: z
    .string()
    .nullable()
    .describe('Pass as `cursor` for the next page; null on the last page.'),
  count: z.int().optional().describe('Matching IOCs (with count=true), at most the cap.'),
  count_capped: z.boolean().optional().describe('True when more than `count` match.'),
});

/** `200` of `GET /v1/iocs/stats`. */
export const iocStatsSchema = z.strictObject({
  total: z.int().describe('IOCs in the hot store (seed 004: total_stains).'),
  by_type: z.record(z.string(), z.int()),
  by_threat_type: z.record(z.string(), z.int()),
  by_confidence: z
    .array(z.strictObject({ from: z.number(), to: z.number(), count: z.int() }))
    .describe('Ten buckets of confidence, [0, 0.1) … [0.9, 1].'),
});

/** `200` of `DELETE /v1/iocs/{type}/{value}`. */
export const iocDeletedSchema = z.strictObject({
  type: z.enum(IOC_TYPES),
  value: z.string(),
  deleted: z.literal(true),
  uncached: z.boolean().describe('Whether the cache held it (it holds it no more).'),
});

/** `200` of `GET /v1/stats/pools`. */
export const poolStatsSchema = z.strictObject({
  postgres: z.strictObject({
    max: z.int().describe('DATABASE_POOL_MAX.'),
    total: z.int().describe('Connections open.'),
    idle: z.int().describe('Open and free.'),
    in_use: z.int().describe('Checked out (seed 004: in_use).'),
    waiting: z.int().describe('Requests queued for a connection.'),
  }),
});

/** A STIX 2.1 bundle as `GET /v1/export/stix` writes it. */
const stixBundleSchema = z
  .strictObject({
    type: z.literal('bundle'),
    id: z.string().describe('bundle--<uuid>'),
    objects: z
      .array(z.record(z.string(), z.unknown()))
      .describe('STIX 2.1 indicators (pattern_type stix), one per IOC.'),
    x_stowage_next_cursor: z
      .string()
      .optional()
      .describe('Present when the export stopped at `limit`: the `cursor` that continues it.'),
  })
  .describe('A STIX 2.1 bundle of indicators, streamed.');

/**
 * The body of a STIX export: documented as the bundle it is, typed as the Readable the
 * handler answers with (a response schema documents, nothing validates an answer).
 */
export const stixBundleStreamSchema = stixBundleSchema as unknown as z.ZodType<Readable, Readable>;

export type IocSearchPage = z.output<typeof iocSearchPageSchema>;
export type IocStatsView = z.output<typeof iocStatsSchema>;
export type IocDeleted = z.output<typeof iocDeletedSchema>;
export type PoolStats = z.output<typeof poolStatsSchema>;

/** A MISP event as `GET /v1/export/misp` writes it. */
const mispEventSchema = z
  .strictObject({
    Event: z.strictObject({
      uuid: z.string(),
      info: z.string(),
      date: z.string().describe('YYYY-MM-DD, the export day.'),
      timestamp: z.string().describe('Epoch seconds.'),
      threat_level_id: z.string(),
      analysis: z.string(),
      distribution: z.string(),
      published: z.boolean(),
      Attribute: z
        .array(z.record(z.string(), z.unknown()))
        .describe(
          'One attribute per IOC: type (ip-dst, domain, url, email-src, md5, sha1, sha256), category, value, to_ids, first_seen, last_seen, Tag.',
        ),
    }),
    x_stowage_next_cursor: z
      .string()
      .optional()
      .describe('Present when the export stopped at `limit`: the `cursor` that continues it.'),
  })
  .describe("A MISP event in MISP's JSON import format, streamed.");

/** The body of a MISP export, documented as the event, typed as the Readable it is. */
export const mispEventStreamSchema = mispEventSchema as unknown as z.ZodType<Readable, Readable>;
