import { isIP } from 'node:net';
import { z } from 'zod';
import { ACTIVITY_SOURCES } from './activity-source.js';
import { timestampSchema as timestamp } from './timestamp.js';

// Where an event was observed: seed 000's ActivitySource, shared with detections (a
// detection names the source of the activity it matched in).
export { ACTIVITY_SOURCES, type ActivitySource } from './activity-source.js';

/**
 * What happened (seed 000's ActivityEventType). The seed names `dns_query`
 * (ActivityEventType.DNS_QUERY); the rest are the events the sources above produce, added
 * here: a DNS answer, an HTTP request, a network connection, a process start, a file
 * written, a logon, an e-mail received.
 */
export const ACTIVITY_EVENT_TYPES = [
  'dns_query',
  'dns_response',
  'http_request',
  'network_connection',
  'process_start',
  'file_create',
  'logon',
  'email_received',
  'other',
] as const;
export type ActivityEventType = (typeof ACTIVITY_EVENT_TYPES)[number];

/** Longest `attributes` object accepted, as JSON text (bytes of UTF-16 code units). */
export const MAX_ACTIVITY_ATTRIBUTES_CHARS = 8_192;
/** Longest free-text field (url, command line). */
export const MAX_ACTIVITY_TEXT = 2_048;

// Control characters break logs and the line-oriented exports; no field needs them.
const CONTROL = /\p{Cc}/u;
// A surrogate half without its other half (String.prototype.isWellFormed, before ES2024).
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const text = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine((s) => !CONTROL.test(s), 'must not contain control characters')
    .refine((s) => !LONE_SURROGATE.test(s), 'must be well-formed Unicode (no lone surrogates)');

/** An event id: the collector's, unique per source and instant (`evt_123`). */
const eventId = text(256);

const ip = z
  .string()
  .trim()
  .refine((s) => isIP(s) !== 0, 'not an IPv4 or IPv6 address');

const fileHash = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64})$/, 'an MD5, SHA-1 or SHA-256 in hex');

// In JSON text: an escaped NUL or lone surrogate (not one preceded by an escaping backslash).
// PostgreSQL's jsonb refuses both, so a record holding one could never be stored.
const UNSTORABLE_ESCAPE = /(?:^|[^\\])(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

const attributes = z.record(z.string().max(128), z.unknown()).superRefine((value, ctx) => {
  const json = JSON.stringify(value);
  if (json.length > MAX_ACTIVITY_ATTRIBUTES_CHARS)
    ctx.addIssue({
      code: 'custom',
      message: `at most ${MAX_ACTIVITY_ATTRIBUTES_CHARS} characters as JSON`,
    });
  else if (UNSTORABLE_ESCAPE.test(json))
    ctx.addIssue({
      code: 'custom',
      message: 'must not contain NUL characters or lone surrogates',
    });
});

/**
 * One observed event as collectors send it (seed 000's NormalizedActivity): id, instant,
 * source and type are required; what was observed (domain, addresses, URL, file hash,
 * user, host, process; seed 004's target `ip` / `file_hash`) is optional, plus a bounded
 * `attributes` object for the rest of the raw event.
 */
export const activitySchema = z.strictObject({
  event_id: eventId,
  timestamp,
  source: z.enum(ACTIVITY_SOURCES),
  event_type: z.enum(ACTIVITY_EVENT_TYPES),
  domain: text(253)
    .transform((d) => d.toLowerCase().replace(/\.$/, ''))
    .optional(),
  ip: ip.optional(),
  src_ip: ip.optional(),
  dst_ip: ip.optional(),
  url: text(MAX_ACTIVITY_TEXT).optional(),
  file_hash: fileHash.optional(),
  user: text(256).optional(),
  hostname: text(253).optional(),
  process_name: text(256).optional(),
  command_line: text(MAX_ACTIVITY_TEXT).optional(),
  attributes: attributes.optional(),
});

/** A validated activity event. */
export type Activity = z.output<typeof activitySchema>;

/** An activity event as stored and answered: the timestamp as ISO 8601 UTC text. */
export type StoredActivity = Omit<Activity, 'timestamp'> & { timestamp: string };

/** The identity of an event: two records of the same key are one event (the first kept). */
export const activityKey = (a: { source: string; timestamp: string; event_id: string }) =>
  `${a.source}\u0000${a.timestamp}\u0000${a.event_id}`;

/** The stored form of a validated event (timestamp as ISO text, undefined fields left out). */
export function toStoredActivity(activity: Activity): StoredActivity {
  const stored = Object.fromEntries(
    Object.entries(activity).filter(([, v]) => v !== undefined),
  ) as Omit<Activity, 'timestamp'>;
  return { ...stored, timestamp: activity.timestamp.toISOString() };
}

/**
 * A batch as it is staged: one record per identity (the first of duplicates kept, as the
 * stores keep the first write), ordered by (timestamp, event_id, source).
 */
export function canonicalActivityBatch(activities: readonly Activity[]): StoredActivity[] {
  const byKey = new Map<string, StoredActivity>();
  for (const activity of activities) {
    const stored = toStoredActivity(activity);
    const key = activityKey(stored);
    if (!byKey.has(key)) byKey.set(key, stored);
  }
  return [...byKey.values()].sort(compareActivities);
}

/** The search order: timestamp, then event_id, then source (byte order, as the stores sort). */
export function compareActivities(a: StoredActivity, b: StoredActivity): number {
  if (a.timestamp !== b.timestamp) return a.timestamp < b.timestamp ? -1 : 1;
  if (a.event_id !== b.event_id) return byteCompare(a.event_id, b.event_id);
  return byteCompare(a.source, b.source);
}

function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
