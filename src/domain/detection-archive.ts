import { createHash } from 'node:crypto';
import type { ArchivePart } from './archive.js';

/** Version of the detection manifest layout below; readers refuse versions they do not know. */
export const DETECTION_ARCHIVE_SCHEMA_VERSION = 1;

/** Prefix of every archive key of detections, layout version 1 (apart from IOCs' and activities'). */
export const DETECTION_ARCHIVE_PREFIX = 'archive/detections/v1';

/**
 * The folder of one generation of a day: `archive/detections/v1/day=YYYY-MM-DD/generation=N/`
 * (Hive-style). A generation never reuses another's keys, so no locked object is written over.
 */
export function detectionArchivePrefix(day: string, generation: number): string {
  if (!Number.isSafeInteger(generation) || generation < 1) {
    throw new RangeError(`generation must be a positive integer, got ${generation}`);
  }
  return `${DETECTION_ARCHIVE_PREFIX}/day=${day}/generation=${generation}/`;
}

/** The key of a generation's nth part (from 1): deterministic, so a retry writes the same keys. */
export function detectionArchivePartKey(day: string, generation: number, n: number): string {
  if (!Number.isSafeInteger(n) || n < 1 || n > 99_999) {
    throw new RangeError(`part number must be 1..99999, got ${n}`);
  }
  return `${detectionArchivePrefix(day, generation)}part-${String(n).padStart(5, '0')}.ndjson.gz`;
}

/** The key of a generation's manifest. */
export function detectionArchiveManifestKey(day: string, generation: number): string {
  return `${detectionArchivePrefix(day, generation)}manifest.json`;
}

/** One status change as an archive line carries it. */
export interface ArchivedStatusChange {
  from_status: string;
  to_status: string;
  case_id: string | null;
  changed_by: string;
  changed_at: string;
  note: string | null;
}

/** One detection as an archive line carries it: its fields, workflow state and status history. */
export interface ArchivedDetection {
  detection_id: string;
  timestamp: string;
  ioc_value: string;
  ioc_type: string;
  activity_event_id: string;
  activity_source: string;
  severity: string;
  confidence: number;
  first_seen: string;
  last_seen: string;
  status: string;
  case_id: string | null;
  created_at: string;
  updated_at: string;
  /** Oldest change first. */
  history: ArchivedStatusChange[];
}

/** What a detection day's manifest says: the parts, their digests, and how they are locked. */
export interface DetectionArchiveManifest {
  schema_version: typeof DETECTION_ARCHIVE_SCHEMA_VERSION;
  kind: 'detections';
  day: string;
  /**
   * Which archive of the day this is (1 first). Detections are mutable (status, case id), so
   * a later generation holds every detection of the day still in the hot store as it is now.
   */
  generation: number;
  /** The window [window_start, window_end) of the detections' timestamps, ISO 8601. */
  window_start: string;
  window_end: string;
  /**
   * ISO 8601: the latest updated_at of the day, read before the first page; every detection
   * not updated after it is in the parts at that version (or newer).
   */
  high_water: string | null;
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
 * differ between two runs over the same parts).
 */
export function detectionManifestDigest(manifest: DetectionArchiveManifest): string {
  const content: Partial<DetectionArchiveManifest> = { ...manifest };
  delete content.created_at;
  delete content.retain_until;
  return createHash('sha256').update(JSON.stringify(content)).digest('hex');
}

/** One archived detection as an NDJSON line (fields in a fixed order). */
export function detectionArchiveLine(detection: ArchivedDetection): string {
  return `${JSON.stringify(detection)}\n`;
}
