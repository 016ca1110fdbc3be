import { QUEUE_NAMES } from '../src/config.js';
import { artifactUploadJob } from './artifact-upload/definition.js';
import { cachePromoteJob } from './cache-promote/definition.js';
import { iocsInsertJob } from './iocs-insert/definition.js';
import { JobRegistry } from './job-registry.js';
import { definitionsOf, jobType } from './job-type.js';
import { watermarkCommitJob } from './watermark-commit/definition.js';
import { archiveLockJob } from './archive-lock/definition.js';
import { archiveReindexJob } from './archive-reindex/definition.js';
import { retentionCleanupJob } from './retention-cleanup/definition.js';
import { uploadsAbortStaleJob } from './uploads-abort-stale/definition.js';
import { batchesSweepJob } from './batches-sweep/definition.js';
import { detectionsInsertJob } from './detections-insert/definition.js';
import { activitiesInsertJob } from './activities-insert/definition.js';
import { activitiesArchiveJob } from './activities-archive/definition.js';
import { recordsInsertJob } from './records-insert/definition.js';
import { detectionsArchiveJob } from './detections-archive/definition.js';
import { deadlettersSweepJob } from './deadletters-sweep/definition.js';
import { required } from './worker-resources.js';

/**
 * Every job type Stowage runs, each with its handler factory (typed by its definition, so
 * a type without a handler, or a handler of another payload, does not compile). Adding a
 * type is one folder under jobs/ and one line here. Handler modules are imported when a
 * worker builds them: the api and the CLI load definitions only.
 */
export const JOB_TYPES = [
  jobType(iocsInsertJob, async (r) =>
    (await import('./iocs-insert/handler.js')).createIocsInsertHandler({
      hotStore: r.hotStore,
      iocCache: required(r, 'iocCache'),
      hotRule: r.settings.cache.hotRule,
      batches: r.batches,
    }),
  ),
  jobType(watermarkCommitJob, async (r) =>
    (await import('./watermark-commit/handler.js')).createWatermarkCommitHandler({
      watermarks: r.watermarks,
    }),
  ),
  jobType(cachePromoteJob, async (r) =>
    (await import('./cache-promote/handler.js')).createCachePromoteHandler({
      hotStore: r.hotStore,
      iocCache: required(r, 'iocCache'),
      settings: r.settings.cache,
    }),
  ),
  jobType(artifactUploadJob, async (r) =>
    (await import('./artifact-upload/handler.js')).createArtifactUploadHandler({
      artifacts: required(r, 'artifacts'),
      audit: r.artifactAudit,
      settings: r.settings.uploads,
    }),
  ),
  jobType(archiveLockJob, async (r) =>
    (await import('./archive-lock/handler.js')).createArchiveLockHandler({
      hotStore: r.hotStore,
      ledger: r.archiveLedger,
      archive: required(r, 'wormArchive'),
      settings: r.settings.archive,
      index: r.archiveIndex,
    }),
  ),
  jobType(archiveReindexJob, async (r) =>
    (await import('./archive-reindex/handler.js')).createArchiveReindexHandler({
      index: r.archiveIndex,
      generations: required(r, 'archivedGenerations'),
    }),
  ),
  jobType(retentionCleanupJob, async (r) =>
    (await import('./retention-cleanup/handler.js')).createRetentionCleanupHandler({
      settings: r.settings.retention,
      hotRetention: r.hotRetention,
      archiveLedger: r.archiveLedger,
      sampleRetention: required(r, 'sampleRetention'),
      activities: r.activities,
      activityLedger: r.activityArchiveLedger,
      records: { records: r.records, index: r.recordIndex },
      detections: r.detectionRetention,
      plans: r.maintenancePlans,
    }),
  ),
  jobType(uploadsAbortStaleJob, async (r) =>
    (await import('./uploads-abort-stale/handler.js')).createUploadsAbortStaleHandler({
      artifacts: required(r, 'artifacts'),
      settings: r.settings.uploads.abortStale,
      spool: r.spool,
      spoolFileReferenced: required(r, 'spoolFileReferenced'),
    }),
  ),
  jobType(batchesSweepJob, async (r) =>
    (await import('./batches-sweep/handler.js')).createBatchesSweepHandler({
      batches: r.batches,
      jobsExist: required(r, 'jobsExist'),
      deadLetters: r.deadLetters,
    }),
  ),
  jobType(detectionsInsertJob, async (r) =>
    (await import('./detections-insert/handler.js')).createDetectionsInsertHandler({
      detections: r.detections,
      batches: r.batches,
    }),
  ),
  jobType(activitiesInsertJob, async (r) =>
    (await import('./activities-insert/handler.js')).createActivitiesInsertHandler({
      activities: r.activities,
      batches: r.batches,
    }),
  ),
  jobType(activitiesArchiveJob, async (r) =>
    (await import('./activities-archive/handler.js')).createActivitiesArchiveHandler({
      activities: r.activities,
      ledger: r.activityArchiveLedger,
      archive: required(r, 'wormArchive'),
      settings: r.settings.archive,
    }),
  ),
  jobType(recordsInsertJob, async (r) =>
    (await import('./records-insert/handler.js')).createRecordsInsertHandler({
      records: r.records,
      index: r.recordIndex,
      archive: required(r, 'wormArchive'),
      batches: r.batches,
      settings: r.settings.archive,
    }),
  ),
  jobType(detectionsArchiveJob, async (r) =>
    (await import('./detections-archive/handler.js')).createDetectionsArchiveHandler({
      detections: r.detectionRetention,
      ledger: r.detectionArchiveLedger,
      archive: required(r, 'wormArchive'),
      settings: r.settings.archive,
    }),
  ),
  jobType(deadlettersSweepJob, async (r) =>
    (await import('./deadletters-sweep/handler.js')).createDeadlettersSweepHandler({
      deadLetters: r.deadLetters,
      queues: QUEUE_NAMES,
      failedJobs: required(r, 'failedJobs'),
    }),
  ),
] as const;

/** Every job type's definition, in the order of JOB_TYPES. */
export const JOB_DEFINITIONS = definitionsOf(JOB_TYPES);

/** The registry of the job types above. */
export function createJobRegistry(): JobRegistry<typeof JOB_DEFINITIONS> {
  return new JobRegistry(JOB_DEFINITIONS);
}
