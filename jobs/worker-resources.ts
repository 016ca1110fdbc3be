import type { HotRule } from '../src/domain/ioc.js';
import type { Spool } from '../src/stores/local/spool.js';
import type { ArchiveIndex } from '../src/stores/postgres/archive-index.js';
import type { ArchiveLedger } from '../src/stores/postgres/archive-ledger.js';
import type { ActivityArchiveLedger } from '../src/stores/postgres/activity-archive-ledger.js';
import type { DetectionArchiveLedger } from '../src/stores/postgres/detection-archive-ledger.js';
import type { PostgresDetectionRetention } from '../src/stores/postgres/detection-retention.js';
import type { ArtifactAuditLog } from '../src/stores/postgres/artifact-audit.js';
import type { PostgresBatchStore } from '../src/stores/postgres/batch-store.js';
import type { DeadLetterStore } from '../src/stores/postgres/dead-letter-store.js';
import type { FailedJobs } from './deadletters-sweep/handler.js';
import type { PostgresDetectionStore } from '../src/stores/postgres/detection-store.js';
import type { PostgresWatermarkStore } from '../src/stores/postgres/watermark-store.js';
import type { MaintenancePlanStore } from '../src/stores/postgres/maintenance-plan-store.js';
import type { HotRetention } from '../src/stores/hot/hot-retention.js';
import type { HotStore } from '../src/stores/hot/hot-store.js';
import type { ActivityStore } from '../src/stores/hot/activity-store.js';
import type { RecordStore } from '../src/stores/hot/record-store.js';
import type { RecordIndex } from '../src/stores/postgres/record-index.js';
import type { RedisIocCache } from '../src/stores/redis/ioc-cache.js';
import type { S3ArtifactStore } from '../src/stores/s3/artifact-store.js';
import type { SampleRetention } from '../src/stores/s3/sample-retention.js';
import type { WormArchive } from '../src/stores/s3/worm-archive.js';
import type { ArchivedGenerationReader } from '../src/stores/s3/archived-generation-reader.js';
import type { ArchiveLockSettings } from './archive-lock/handler.js';
import type { ArtifactUploadSettings } from './artifact-upload/handler.js';
import type { RetentionSettings } from './retention-cleanup/handler.js';
import type { AbortStaleSettings } from './uploads-abort-stale/handler.js';

/**
 * The settings structs handler factories read, each declared by its handler (the
 * composition root projects them from configuration once).
 */
export interface JobSettings {
  readonly cache: { readonly hotRule: HotRule; readonly promoteLimit: number };
  readonly uploads: ArtifactUploadSettings & { readonly abortStale: AbortStaleSettings };
  readonly archive: ArchiveLockSettings;
  readonly retention: RetentionSettings;
}

/**
 * What the composition root hands to handler factories: the settings and the stores a
 * worker built for the queues it serves. Stores over PostgreSQL and the hot backend are
 * always there (the schema check needs them); those over S3 and the cache Redis only when
 * a served queue's jobs touch them (an ingest-only worker opens no S3 client).
 */
export interface WorkerResources {
  readonly settings: JobSettings;
  readonly hotStore: HotStore;
  readonly hotRetention: HotRetention;
  /** Activity events on the hot backend. */
  readonly activities: ActivityStore;
  /** Seed 002's records on the hot backend. */
  readonly records: RecordStore;
  /** Which archive object and line hold each record (PostgreSQL). */
  readonly recordIndex: RecordIndex;
  readonly watermarks: PostgresWatermarkStore;
  /** Plans of destructive maintenance (retention.cleanup), in PostgreSQL. */
  readonly maintenancePlans: MaintenancePlanStore;
  /** Claim-checked job records, staged by producers. */
  readonly batches: PostgresBatchStore;
  /** Detections (seed 000), in PostgreSQL whatever HOT_STORE says. */
  readonly detections: PostgresDetectionStore;
  readonly archiveLedger: ArchiveLedger;
  /** The per-indicator archive index archive.lock writes (look-ups read it). */
  readonly archiveIndex: ArchiveIndex;
  /** Which activity days are archived, and which of them retention dropped (PostgreSQL). */
  readonly activityArchiveLedger: ActivityArchiveLedger;
  /** Which detection days are archived, and up to which updated_at (PostgreSQL). */
  readonly detectionArchiveLedger: DetectionArchiveLedger;
  /** Detections as detections.archive reads and retention deletes them (PostgreSQL). */
  readonly detectionRetention: PostgresDetectionRetention;
  readonly artifactAudit: ArtifactAuditLog;
  /** The spool shared with the api (SPOOL_DIR). */
  readonly spool: Spool;
  readonly iocCache?: RedisIocCache;
  readonly artifacts?: S3ArtifactStore;
  readonly wormArchive?: WormArchive;
  /** Reads recorded archive generations back, verified (archive.reindex). */
  readonly archivedGenerations?: ArchivedGenerationReader;
  readonly sampleRetention?: SampleRetention;
  /**
   * Whether an artifact.upload job still needs its spool file (it exists and has not
   * completed); there when the worker serves the maintenance queue.
   */
  readonly spoolFileReferenced?: (file: string) => Promise<boolean>;
  /**
   * Whether jobs still exist in their queues (any state), by queue and id; there when the
   * worker serves the maintenance queue (the staged-batch sweep asks).
   */
  readonly jobsExist?: (refs: readonly { queue: string; jobId: string }[]) => Promise<boolean[]>;
  /** Jobs that failed for good (PostgreSQL `dead_letters`). */
  readonly deadLetters: DeadLetterStore;
  /**
   * Each queue's failed jobs as dead letters; there when the worker serves the maintenance
   * queue (deadletters.sweep reads every queue).
   */
  readonly failedJobs?: FailedJobs;
}

/** The resources a worker was not built with, by name (a factory asks for one it lacks). */
export function required<K extends keyof WorkerResources>(
  resources: WorkerResources,
  name: K,
): NonNullable<WorkerResources[K]> {
  const value = resources[name];
  if (value === undefined) {
    throw new Error(`${name} is not built in this worker (it serves no queue that needs it)`);
  }
  return value;
}
