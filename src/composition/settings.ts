import { resolve } from 'node:path';
import type { Config } from '../config.js';
import type { HotRule } from '../domain/ioc.js';
import { parseUrlAllowlist, type UrlAllowlist } from '../domain/url-allowlist.js';
import type { ArchiveLockSettings } from '../../jobs/archive-lock/handler.js';
import type { RetentionSettings } from '../../jobs/retention-cleanup/handler.js';
import type { AbortStaleSettings } from '../../jobs/uploads-abort-stale/handler.js';

/** The cache's settings (CACHE_*), with the hot rule that decides what is cached. */
export interface CacheSettings {
  /** HOT_MIN_CONFIDENCE and HOT_MAX_AGE_HOURS (seed 000: confidence ≥ 0.7, last seen ≤ 48 h). */
  readonly hotRule: HotRule;
  /** CACHE_TTL_SECONDS: how long a cached IOC lives. */
  readonly ttlSeconds: number;
  /** CACHE_PROMOTE_LIMIT: most IOCs one cache.promote run writes. */
  readonly promoteLimit: number;
}

/** How artifacts are received, spooled and uploaded (SPOOL_*, UPLOAD_*, ARTIFACT_*, URL_SOURCE_*). */
export interface UploadSettings {
  /** SPOOL_DIR, absolute: shared by the api (writes) and workers (read, then remove). */
  readonly spoolDir: string;
  /** ARTIFACT_MAX_BYTES: a URL source sending more fails with storage_quota_exceeded. */
  readonly maxBytes: number;
  readonly urlAllowlist: UrlAllowlist;
  /** URL_SOURCE_DEADLINE_MS: longest a URL source may take in full. */
  readonly urlDeadlineMs: number;
  /** UPLOAD_PART_SIZE_BYTES and UPLOAD_QUEUE_SIZE: the multipart upload's shape. */
  readonly partSize: number;
  readonly queueSize: number;
  /** UPLOAD_STALE_HOURS and SPOOL_ORPHAN_GRACE_MINUTES, as uploads.abort-stale reads them. */
  readonly abortStale: AbortStaleSettings;
}

/** Idempotency-Key records (IDEMPOTENCY_TTL_HOURS). */
export interface IdempotencySettings {
  readonly ttlSeconds: number;
}

/** The configuration as the stores and handlers read it: plain, typed, camelCase, projected once. */
export interface Settings {
  readonly cache: CacheSettings;
  readonly uploads: UploadSettings;
  readonly idempotency: IdempotencySettings;
  readonly archive: ArchiveLockSettings;
  readonly retention: RetentionSettings;
}

/** archive.lock's settings from the ARCHIVE_* keys. */
export function archiveLockSettings(
  config: Pick<
    Config,
    | 'ARCHIVE_LOCK_MODE'
    | 'ARCHIVE_RETENTION_YEARS'
    | 'ARCHIVE_SSE'
    | 'ARCHIVE_KMS_KEY_ID'
    | 'ARCHIVE_PART_ROWS'
  >,
): ArchiveLockSettings {
  return {
    lockMode: config.ARCHIVE_LOCK_MODE,
    retentionYears: config.ARCHIVE_RETENTION_YEARS,
    sse: config.ARCHIVE_SSE,
    kmsKeyId: config.ARCHIVE_KMS_KEY_ID,
    partRows: config.ARCHIVE_PART_ROWS,
  };
}

/** retention.cleanup's settings from the retention keys. */
export function retentionSettings(
  config: Pick<
    Config,
    | 'ARCHIVE_ENABLED'
    | 'HOT_RETENTION_DAYS'
    | 'SAMPLE_RETENTION_ENABLED'
    | 'SAMPLE_RETENTION_DAYS'
    | 'RETENTION_BATCH_SIZE'
    | 'ACTIVITY_RETENTION_DAYS'
    | 'DETECTION_RETENTION_DAYS'
    | 'RETENTION_APPROVAL'
    | 'RETENTION_PLAN_MAX_AGE_HOURS'
  >,
): RetentionSettings {
  return {
    archiveEnabled: config.ARCHIVE_ENABLED,
    hotRetentionDays: config.HOT_RETENTION_DAYS,
    sampleRetentionEnabled: config.SAMPLE_RETENTION_ENABLED,
    sampleRetentionDays: config.SAMPLE_RETENTION_DAYS,
    batchSize: config.RETENTION_BATCH_SIZE,
    activityRetentionDays: config.ACTIVITY_RETENTION_DAYS,
    detectionRetentionDays: config.DETECTION_RETENTION_DAYS,
    approval: config.RETENTION_APPROVAL,
    planMaxAgeMs: config.RETENTION_PLAN_MAX_AGE_HOURS * 3_600_000,
  };
}

/** Projects the configuration once into the settings structs handlers and stores receive. */
export function projectSettings(config: Config): Settings {
  return {
    cache: {
      hotRule: { minConfidence: config.HOT_MIN_CONFIDENCE, maxAgeHours: config.HOT_MAX_AGE_HOURS },
      ttlSeconds: config.CACHE_TTL_SECONDS,
      promoteLimit: config.CACHE_PROMOTE_LIMIT,
    },
    uploads: {
      spoolDir: resolve(config.SPOOL_DIR),
      maxBytes: config.ARTIFACT_MAX_BYTES,
      urlAllowlist: parseUrlAllowlist(config.URL_SOURCE_ALLOWLIST),
      urlDeadlineMs: config.URL_SOURCE_DEADLINE_MS,
      partSize: config.UPLOAD_PART_SIZE_BYTES,
      queueSize: config.UPLOAD_QUEUE_SIZE,
      abortStale: {
        staleHours: config.UPLOAD_STALE_HOURS,
        spoolOrphanGraceMinutes: config.SPOOL_ORPHAN_GRACE_MINUTES,
      },
    },
    idempotency: { ttlSeconds: Math.round(config.IDEMPOTENCY_TTL_HOURS * 3_600) },
    archive: archiveLockSettings(config),
    retention: retentionSettings(config),
  };
}
