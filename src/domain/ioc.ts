import { isIP } from 'node:net';
import { z } from 'zod';
import { timestampSchema as timestamp } from './timestamp.js';

/** Indicator types Stowage stores (seed 000). */
export const IOC_TYPES = [
  'domain',
  'ipv4',
  'ipv6',
  'url',
  'md5',
  'sha1',
  'sha256',
  'email',
] as const;
export type IocType = (typeof IOC_TYPES)[number];

/** Longest indicator value accepted (URLs are the long ones). */
export const MAX_IOC_VALUE_LENGTH = 2048;
export const MAX_TAGS = 32;

const HEX = { md5: 32, sha1: 40, sha256: 64 } as const;
const DOMAIN =
  /^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/;
const EMAIL_LOCAL = /^[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$/;

/**
 * Normalizes a value for its type: trimmed; lower-cased where the type is case-insensitive
 * (everything but a URL's path and query). Returns undefined when the value is not valid.
 */
export function normalizeIocValue(type: IocType, raw: string): string | undefined {
  const value = raw.trim();
  // Control characters have no place in an indicator and break logs and cache keys.
  if (value === '' || value.length > MAX_IOC_VALUE_LENGTH || /\p{Cc}/u.test(value))
    return undefined;
  switch (type) {
    case 'domain': {
      const d = value.toLowerCase().replace(/\.$/, '');
      return DOMAIN.test(d) ? d : undefined;
    }
    case 'ipv4':
      return isIP(value) === 4 && !/(^|\.)0\d/.test(value) ? value : undefined;
    case 'ipv6': {
      // A zone id (fe80::1%eth0) passes isIP but is host-local, and the URL parser below
      // throws on it, which would escape safeParse instead of failing validation.
      if (isIP(value) !== 6 || value.includes('%')) return undefined;
      // The URL parser prints the canonical (compressed, lower-case) form.
      return new URL(`http://[${value}]/`).hostname.slice(1, -1);
    }
    case 'md5':
    case 'sha1':
    case 'sha256': {
      const h = value.toLowerCase();
      return h.length === HEX[type] && /^[0-9a-f]+$/.test(h) ? h : undefined;
    }
    case 'email': {
      const e = value.toLowerCase();
      const at = e.lastIndexOf('@');
      if (at <= 0) return undefined;
      const local = e.slice(0, at);
      const domain = e.slice(at + 1);
      return EMAIL_LOCAL.test(local) && DOMAIN.test(domain) ? e : undefined;
    }
    case 'url': {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        return undefined;
      }
      if (!['http:', 'https:', 'ftp:'].includes(url.protocol) || url.hostname === '')
        return undefined;
      // The URL parser lower-cases scheme and host and keeps path and query as given.
      return url.href;
    }
  }
}

const slug = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'lower-case letters, digits, _ . - (1..64)');

/** One sighting of an indicator as collectors send it (seed 000's NormalizedIOC). */
export const iocSchema = z
  .strictObject({
    type: z.enum(IOC_TYPES),
    value: z.string().max(MAX_IOC_VALUE_LENGTH),
    threat_type: slug.default('unknown'),
    confidence: z.number().min(0).max(1),
    source: slug,
    first_seen: timestamp,
    last_seen: timestamp,
    tags: z.array(slug).max(MAX_TAGS).default([]),
  })
  .transform((ioc, ctx) => {
    const value = normalizeIocValue(ioc.type, ioc.value);
    if (value === undefined) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `not a valid ${ioc.type}` });
      return z.NEVER;
    }
    if (ioc.last_seen < ioc.first_seen) {
      ctx.addIssue({
        code: 'custom',
        path: ['last_seen'],
        message: 'must not be before first_seen',
      });
      return z.NEVER;
    }
    return { ...ioc, value, tags: [...new Set(ioc.tags)].sort() };
  });

/** A validated, normalized sighting. */
export type Ioc = z.output<typeof iocSchema>;

/** What the hot store keeps per (type, value): every sighting merged. */
export interface StoredIoc {
  type: IocType;
  value: string;
  threat_type: string;
  confidence: number;
  sources: string[];
  first_seen: Date;
  last_seen: Date;
  tags: string[];
}

/** A sighting as a stored IOC of one source. */
export function toStored(ioc: Ioc): StoredIoc {
  return {
    type: ioc.type,
    value: ioc.value,
    threat_type: ioc.threat_type,
    confidence: ioc.confidence,
    sources: [ioc.source],
    first_seen: ioc.first_seen,
    last_seen: ioc.last_seen,
    tags: ioc.tags,
  };
}

/** Whether b's sighting is the "latest" one: later last_seen, then higher confidence, then threat type. */
function bIsLatest(a: StoredIoc, b: StoredIoc): boolean {
  const dt = b.last_seen.getTime() - a.last_seen.getTime();
  if (dt !== 0) return dt > 0;
  if (b.confidence !== a.confidence) return b.confidence > a.confidence;
  return b.threat_type > a.threat_type;
}

const union = (a: string[], b: string[]) => [...new Set([...a, ...b])].sort();

/**
 * Merges two records of the same indicator. Commutative, associative and idempotent, so
 * replays and any delivery order give the same row: first_seen the minimum, last_seen the
 * maximum, confidence and threat type from the latest sighting, sources and tags the union.
 */
export function mergeIoc(a: StoredIoc, b: StoredIoc): StoredIoc {
  const latest = bIsLatest(a, b) ? b : a;
  return {
    type: a.type,
    value: a.value,
    threat_type: latest.threat_type,
    confidence: latest.confidence,
    sources: union(a.sources, b.sources),
    first_seen: a.first_seen <= b.first_seen ? a.first_seen : b.first_seen,
    last_seen: a.last_seen >= b.last_seen ? a.last_seen : b.last_seen,
    tags: union(a.tags, b.tags),
  };
}

/** The natural key of an indicator. */
export const iocKey = (ioc: { type: string; value: string }) => `${ioc.type}\u0000${ioc.value}`;

/** Collapses a batch to one record per (type, value), merged. */
export function mergeBatch(iocs: readonly Ioc[]): StoredIoc[] {
  const byKey = new Map<string, StoredIoc>();
  for (const ioc of iocs) {
    const stored = toStored(ioc);
    const key = iocKey(stored);
    const existing = byKey.get(key);
    byKey.set(key, existing ? mergeIoc(existing, stored) : stored);
  }
  return [...byKey.values()];
}

/** The hot rule (seed 000): confident enough and seen recently enough to cache. */
export function isHot(
  ioc: Pick<StoredIoc, 'confidence' | 'last_seen'>,
  rule: HotRule,
  now = new Date(),
): boolean {
  return (
    ioc.confidence >= rule.minConfidence &&
    now.getTime() - ioc.last_seen.getTime() <= rule.maxAgeHours * 3_600_000
  );
}

/** Thresholds of the hot rule. */
export interface HotRule {
  minConfidence: number;
  maxAgeHours: number;
}
