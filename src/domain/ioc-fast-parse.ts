import { IOC_TYPES, MAX_IOC_VALUE_LENGTH, MAX_TAGS, normalizeIocValue, type Ioc } from './ioc.js';
import { timestampBoundsProblem, unboundedTimestampSchema } from './timestamp.js';

// The rules of iocSchema, checked by hand for the records a collector usually sends: a
// record this accepts parses to exactly what iocSchema gives; anything else (a missing or
// extra field, a type it does not expect, any doubt) returns undefined and goes through
// iocSchema, which accepts it or names the field. test/unit/ioc-fast-parse.test.ts holds the
// two against each other. It exists for speed: zod took 6 µs a record, most of an ingest
// request's CPU (docs/BENCHMARKS.md).

const TYPES: ReadonlySet<string> = new Set(IOC_TYPES);
const FIELDS: ReadonlySet<string> = new Set([
  'type',
  'value',
  'threat_type',
  'confidence',
  'source',
  'first_seen',
  'last_seen',
  'tags',
]);
const SLUG = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

/** Instants of timestamp strings parsed before (a batch repeats a few); NaN: not valid. */
const instants = new Map<string, number>();
const MAX_REMEMBERED = 4_096;

function instantOf(raw: unknown): Date | undefined {
  let ms: number | undefined;
  if (raw instanceof Date) {
    ms = raw.getTime();
    if (Number.isNaN(ms)) return undefined;
    // Bounds are checked by the caller; the Date is the schema's output as given.
    return timestampBoundsProblem(raw) === undefined ? raw : undefined;
  }
  if (typeof raw !== 'string') return undefined;
  ms = instants.get(raw);
  if (ms === undefined) {
    const parsed = unboundedTimestampSchema.safeParse(raw);
    ms = parsed.success ? parsed.data.getTime() : Number.NaN;
    if (instants.size >= MAX_REMEMBERED) instants.clear();
    instants.set(raw, ms);
  }
  if (Number.isNaN(ms)) return undefined;
  const instant = new Date(ms);
  return timestampBoundsProblem(instant) === undefined ? instant : undefined;
}

function slugOf(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const slug = raw.trim().toLowerCase();
  return SLUG.test(slug) ? slug : undefined;
}

/**
 * A record as iocSchema would parse it, when it is a plainly valid one; undefined when
 * iocSchema must decide (it may still accept it, or it names what is wrong).
 */
export function fastParseIoc(raw: unknown): Ioc | undefined {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  if (Object.getPrototypeOf(raw) !== Object.prototype) return undefined;
  const r = raw as Record<string, unknown>;
  for (const key in r) if (!FIELDS.has(key)) return undefined;
  const { type, value: rawValue, confidence } = r;
  if (typeof type !== 'string' || !TYPES.has(type)) return undefined;
  if (typeof rawValue !== 'string' || rawValue.length > MAX_IOC_VALUE_LENGTH) return undefined;
  if (typeof confidence !== 'number' || !(confidence >= 0 && confidence <= 1)) return undefined;
  const threatType = r.threat_type === undefined ? 'unknown' : slugOf(r.threat_type);
  const source = slugOf(r.source);
  if (threatType === undefined || source === undefined) return undefined;
  let tags: string[] = [];
  if (r.tags !== undefined) {
    if (!Array.isArray(r.tags) || r.tags.length > MAX_TAGS) return undefined;
    for (const t of r.tags as unknown[]) {
      const tag = slugOf(t);
      if (tag === undefined) return undefined;
      tags.push(tag);
    }
    tags = [...new Set(tags)].sort();
  }
  const firstSeen = instantOf(r.first_seen);
  const lastSeen = instantOf(r.last_seen);
  if (firstSeen === undefined || lastSeen === undefined || lastSeen < firstSeen) return undefined;
  const value = normalizeIocValue(type as Ioc['type'], rawValue);
  if (value === undefined) return undefined;
  return {
    type: type as Ioc['type'],
    value,
    threat_type: threatType,
    confidence,
    source,
    first_seen: firstSeen,
    last_seen: lastSeen,
    tags,
  };
}
