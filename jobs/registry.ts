import { artifactUploadJob } from './artifact-upload/definition.js';
import { cachePromoteJob } from './cache-promote/definition.js';
import { iocsInsertJob } from './iocs-insert/definition.js';
import { JobRegistry } from './job-registry.js';
import { watermarkCommitJob } from './watermark-commit/definition.js';
import { archiveLockJob } from './archive-lock/definition.js';
import { retentionCleanupJob } from './retention-cleanup/definition.js';
import { uploadsAbortStaleJob } from './uploads-abort-stale/definition.js';

/**
 * Every job type Stowage runs. Adding a type is one folder under jobs/ and one line here
 * (and one in jobs/handlers.ts, which the compiler insists on).
 */
export const JOB_DEFINITIONS = [
  iocsInsertJob,
  watermarkCommitJob,
  cachePromoteJob,
  artifactUploadJob,
  archiveLockJob,
  retentionCleanupJob,
  uploadsAbortStaleJob,
] as const;

/** The registry of the job types above. */
export function createJobRegistry(): JobRegistry<typeof JOB_DEFINITIONS> {
  return new JobRegistry(JOB_DEFINITIONS);
}
