import { createHash } from 'node:crypto';
import type { StoredIoc } from './ioc.js';
import type { HotBackendName } from '../config.js';

/** Version of the manifest layout below; readers refuse versions they do not know. */
export const ARCHIVE_SCHEMA_VERSION = 1;

/** Prefix of every archive key of hot-store IOCs, layout version 1. */
export const ARCHIVE_PREFIX = 'archive/iocs/v1';

/** The folder of one day: `archive/iocs/v1/day=YYYY-MM-DD/` (Hive-style, so query engines read it). */
export function archiveDayPrefix(day: string): string {
  return `${ARCHIVE_PREFIX}/day=${day}/`;
}

/**
 * The folder of one generation of a day: the day's folder for generation 1 (the layout of
 * every archive written before generations), `…/day=YYYY-MM-DD/generation=N/` after it.
 * A generation never reuses another's keys, so no locked object is ever written over.
 */
export function archiveGenerationPrefix(day: string, generation = 1): string {
  if (!Number.isSafeInteger(generation) || generation < 1) {
    throw new RangeError(`generation must be a positive integer, got ${generation}`);
  }
  return generation === 1
    ? archiveDayPrefix(day)
    : `${archiveDayPrefix(day)}generation=${generation}/`;
}

/** The key of a generation's nth part (from 1): deterministic, so a retry writes the same keys. */
export function archivePartKey(day: string, n: number, generation = 1): string {
  if (!Number.isSafeInteger(n) || n < 1 || n > 99_999) {
    throw new RangeError(`part number must be 1..99999, got ${n}`);
  }
  return `${archiveGenerationPrefix(day, generation)}part-${String(n).padStart(5, '0')}.ndjson.gz`;
}

/** The key of a generation's manifest. */
export function archiveManifestKey(day: string, generation = 1): string {
  return `${archiveGenerationPrefix(day, generation)}manifest.json`;
}

/** One gzip NDJSON part as the manifest lists it. */
export interface ArchivePart {
  key: string;
  /** The S3 version the manifest vouches for (the bucket is versioned under Object Lock). */
  version_id: string | null;
  rows: number;
  /** Size and SHA-256 (hex) of the object as stored, compressed. */
  bytes: number;
  sha256: string;
  /** SHA-256 (hex) of the uncompressed NDJSON: independent of the compressor. */
  ndjson_sha256: string;
}

/** What a day's manifest says: the parts, their digests, and how they are locked. */
export interface ArchiveManifest {
  schema_version: typeof ARCHIVE_SCHEMA_VERSION;
  day: string;
  /**
   * Which archive of the day this is (1 first; absent in manifests written before
   * generations, which are generation 1). The newest generation holds the day's rows as
   * they were when it was written; rows that left the day are in their new day's archive.
   */
  generation?: number;
  /** The window [window_start, window_end) of last_seen, ISO 8601. */
  window_start: string;
  window_end: string;
  backend: HotBackendName;
  format: 'ndjson+gzip';
  parts: ArchivePart[];
  rows: number;
  bytes: number;
  lock_mode: 'COMPLIANCE' | 'GOVERNANCE';
  /** The earliest retain-until of the day's objects. */
  retain_until: string;
  sse: 'AES256' | 'aws:kms' | 'none';
  created_at: string;
}

/**
 * Digest of what a manifest says about the data (everything but created_at and
 * retain_until, which differ between two runs over the same parts): equal digests mean a
 * manifest already written describes exactly these parts.
 */
export function manifestContentDigest(manifest: ArchiveManifest): string {
  const content: Partial<ArchiveManifest> = { ...manifest };
  delete content.created_at;
  delete content.retain_until;
  return createHash('sha256').update(JSON.stringify(content)).digest('hex');
}

/** One archived row as an NDJSON line (fields in a fixed order, times in ISO 8601 UTC). */
export function archiveLine(ioc: StoredIoc): string {
  return `${JSON.stringify({
    type: ioc.type,
    value: ioc.value,
    threat_type: ioc.threat_type,
    confidence: ioc.confidence,
    sources: ioc.sources,
    first_seen: ioc.first_seen.toISOString(),
    last_seen: ioc.last_seen.toISOString(),
    tags: ioc.tags,
  })}\n`;
}

/**
 * When an object written at `from` may be deleted: `years` UTC calendar years later,
 * rounded up to a whole second (some servers keep whole seconds, and rounding up can only
 * lengthen the lock).
 */
export function retentionEnd(from: Date, years: number): Date {
  const end = new Date(from.getTime());
  end.setUTCFullYear(end.getUTCFullYear() + years);
  return new Date(Math.ceil(end.getTime() / 1000) * 1000);
}
