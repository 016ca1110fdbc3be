import { createHash } from 'node:crypto';
import { z } from 'zod';
import { timestampSchema as timestamp } from './timestamp.js';

/** Longest `source_data` or `mapped_data` accepted, in characters. */
export const MAX_RECORD_DATA_CHARS = 32_768;
/** Longest `metadata` object accepted, as JSON text. */
export const MAX_RECORD_METADATA_CHARS = 8_192;
/** Longest record id. */
export const MAX_RECORD_ID = 128;

// Ids name rows in two stores and appear in URLs and object listings: a conservative set.
const RECORD_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
// NUL is refused by PostgreSQL text, a lone surrogate half by jsonb and by UTF-8 itself.
// Newlines and tabs stay allowed: a detector's output is free text.
// eslint-disable-next-line no-control-regex
const NUL = /\u0000/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const CONTROL = /\p{Cc}/u;
// In JSON text: an escaped NUL or lone surrogate (not one preceded by an escaping backslash).
const UNSTORABLE_ESCAPE = /(?:^|[^\\])(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

const data = z
  .string()
  .max(MAX_RECORD_DATA_CHARS)
  .refine((s) => !NUL.test(s), 'must not contain NUL characters')
  .refine((s) => !LONE_SURROGATE.test(s), 'must be well-formed Unicode (no lone surrogates)');

const metadata = z.record(z.string().max(128), z.unknown()).superRefine((value, ctx) => {
  const json = JSON.stringify(value);
  if (json.length > MAX_RECORD_METADATA_CHARS)
    ctx.addIssue({
      code: 'custom',
      message: `at most ${MAX_RECORD_METADATA_CHARS} characters as JSON`,
    });
  else if (UNSTORABLE_ESCAPE.test(json))
    ctx.addIssue({ code: 'custom', message: 'must not contain NUL characters or lone surrogates' });
});

/**
 * One mapping result as seed 002's StorageRecord carries it: the caller's id, the detector's
 * output, the canonical mapping, the model that produced it, when, and a small JSON object.
 */
export const storageRecordSchema = z.strictObject({
  id: z
    .string()
    .min(1)
    .max(MAX_RECORD_ID)
    .regex(RECORD_ID, 'letters, digits and . _ : - only, starting with a letter or digit'),
  source_data: data,
  mapped_data: data,
  model_version: z
    .string()
    .trim()
    .min(1)
    .max(128)
    .refine((s) => !CONTROL.test(s), 'must not contain control characters'),
  timestamp,
  metadata: metadata.default({}),
});

/** A validated record. */
export type StorageRecord = z.output<typeof storageRecordSchema>;

/** A record as stored, archived and answered: the timestamp as ISO 8601 UTC text. */
export interface StoredRecord {
  id: string;
  source_data: string;
  mapped_data: string;
  model_version: string;
  timestamp: string;
  metadata: Record<string, unknown>;
}

/** A stored record with its canonical JSON line (no newline) and that line's SHA-256. */
export interface CanonicalRecord {
  record: StoredRecord;
  /** The record's canonical JSON: fixed field order, metadata keys sorted at every depth. */
  line: string;
  /** SHA-256 (hex) of `line`: what "the same content" means. */
  digest: string;
}

/** The stored form of a record with its canonical line and digest. */
export function canonicalRecord(input: StorageRecord | StoredRecord): CanonicalRecord {
  const record: StoredRecord = {
    id: input.id,
    source_data: input.source_data,
    mapped_data: input.mapped_data,
    model_version: input.model_version,
    timestamp: input.timestamp instanceof Date ? input.timestamp.toISOString() : input.timestamp,
    metadata: sortKeys(input.metadata) as Record<string, unknown>,
  };
  const line = JSON.stringify(record);
  return { record, line, digest: recordDigest(line) };
}

/** SHA-256 (hex) of a record's canonical line. */
export function recordDigest(line: string): string {
  return createHash('sha256').update(line).digest('hex');
}

/**
 * A batch as it is staged and archived: one record per id (the first of duplicates kept, as
 * the stores keep the first write), ordered by id.
 */
export function canonicalRecordBatch(
  records: readonly (StorageRecord | StoredRecord)[],
): StoredRecord[] {
  const byId = new Map<string, StoredRecord>();
  for (const r of records) if (!byId.has(r.id)) byId.set(r.id, canonicalRecord(r).record);
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

// Key order carries no meaning in a JSON object: sorted, two equal objects are one text.
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/**
 * The archive key of a batch of records, content-addressed: the UTC day of its earliest
 * record and the SHA-256 of its NDJSON (`records/2026/01/02/<sha256>.ndjson.gz`), so a retry
 * of the same batch comes back to the same key and finds its object there.
 */
export function recordArchiveKey(earliest: string, ndjsonSha256: string): string {
  if (!/^[0-9a-f]{64}$/.test(ndjsonSha256)) throw new RangeError('not a hex SHA-256');
  const [y, m, d] = new Date(earliest).toISOString().slice(0, 10).split('-');
  return `records/${y}/${m}/${d}/${ndjsonSha256}.ndjson.gz`;
}
