import { createHash } from 'node:crypto';
import type { HotBackendName } from '../config.js';
import { activitySchema, type StoredActivity } from './activity.js';
import type { ArchivePart } from './archive.js';

/** Version of the activity manifest layout below; readers refuse versions they do not know. */
export const ACTIVITY_ARCHIVE_SCHEMA_VERSION = 1;

/** Prefix of every archive key of activity events, layout version 1 (apart from the IOCs'). */
export const ACTIVITY_ARCHIVE_PREFIX = 'archive/activities/v1';

/**
 * The folder of one generation of a day: `archive/activities/v1/day=YYYY-MM-DD/generation=N/`
 * (Hive-style). A generation never reuses another's keys, so no locked object is written over.
 */
export function activityArchivePrefix(day: string, generation: number): string {
  if (!Number.isSafeInteger(generation) || generation < 1) {
    throw new RangeError(`generation must be a positive integer, got ${generation}`);
  }
  return `${ACTIVITY_ARCHIVE_PREFIX}/day=${day}/generation=${generation}/`;
}

/** The key of a generation's nth part (from 1): deterministic, so a retry writes the same keys. */
export function activityArchivePartKey(day: string, generation: number, n: number): string {
  if (!Number.isSafeInteger(n) || n < 1 || n > 99_999) {
    throw new RangeError(`part number must be 1..99999, got ${n}`);
  }
  return `${activityArchivePrefix(day, generation)}part-${String(n).padStart(5, '0')}.ndjson.gz`;
}

/** The key of a generation's manifest. */
export function activityArchiveManifestKey(day: string, generation: number): string {
  return `${activityArchivePrefix(day, generation)}manifest.json`;
}

/** What an activity day's manifest says: the parts, their digests, and how they are locked. */
export interface ActivityArchiveManifest {
  schema_version: typeof ACTIVITY_ARCHIVE_SCHEMA_VERSION;
  kind: 'activities';
  day: string;
  /**
   * Which archive of the day this is (1 first). Activities are append-only, so a later
   * generation holds every event of the earlier ones still in the hot store plus the late
   * ones; after retention dropped the day, a generation holds only the events that arrived
   * since.
   */
  generation: number;
  /** The window [window_start, window_end) of the events' timestamps, ISO 8601. */
  window_start: string;
  window_end: string;
  backend: HotBackendName;
  format: 'ndjson+gzip';
  parts: ArchivePart[];
  rows: number;
  bytes: number;
  lock_mode: 'COMPLIANCE' | 'GOVERNANCE';
  /** The earliest retain-until of the generation's objects. */
  retain_until: string;
  sse: 'AES256' | 'aws:kms' | 'none';
  created_at: string;
}

/**
 * Digest of what a manifest says about the data (all but created_at and retain_until, which
 * differ between two runs over the same parts): equal digests mean a manifest already
 * written describes exactly these parts.
 */
export function activityManifestDigest(manifest: ActivityArchiveManifest): string {
  const content: Partial<ActivityArchiveManifest> = { ...manifest };
  delete content.created_at;
  delete content.retain_until;
  return createHash('sha256').update(JSON.stringify(content)).digest('hex');
}

// The record's fields in the schema's order: PostgreSQL's jsonb and ClickHouse's String keep
// keys in different orders, and an archive line must not depend on the backend.
const FIELDS = Object.keys(activitySchema.shape) as (keyof StoredActivity)[];

/** One archived event as an NDJSON line (fields in the schema's order, absent ones left out). */
export function activityArchiveLine(event: StoredActivity): string {
  const ordered: Record<string, unknown> = {};
  for (const field of FIELDS) {
    if (event[field] !== undefined) ordered[field] = sortedKeys(event[field]);
  }
  return `${JSON.stringify(ordered)}\n`;
}

/** A JSON value with every object's keys sorted (jsonb reorders nested keys as well). */
function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sortedKeys((value as Record<string, unknown>)[k])]),
  );
}
