import { resolve } from 'node:path';
import { parseUrlAllowlist } from '../src/domain/url-allowlist.js';
import type { Deps } from '../src/deps.js';
import { Queue } from 'bullmq';
import { Spool } from '../src/stores/local/spool.js';
import { artifactUploadJob, jobIdOfSpoolFile } from './artifact-upload/definition.js';
import { createArtifactUploadHandler } from './artifact-upload/handler.js';
import { archiveLockSettings, createArchiveLockHandler } from './archive-lock/handler.js';
import { createRetentionCleanupHandler } from './retention-cleanup/handler.js';
import { createUploadsAbortStaleHandler } from './uploads-abort-stale/handler.js';
import { createCachePromoteHandler } from './cache-promote/handler.js';
import { createIocsInsertHandler } from './iocs-insert/handler.js';
import type { HandlerFactory } from './job-definition.js';
import { createWatermarkCommitHandler } from './watermark-commit/handler.js';
import type { JobNameOf } from './job-registry.js';
import type { JOB_DEFINITIONS } from './registry.js';

type Definitions = typeof JOB_DEFINITIONS;

/** The handler factory of every registered job type; a type without one does not compile. */
export const HANDLER_FACTORIES = {
  'iocs.insert': (deps) => createIocsInsertHandler(deps),
  'watermark.commit': (deps) => createWatermarkCommitHandler(deps),
  'cache.promote': (deps) =>
    createCachePromoteHandler({ ...pick(deps), promoteLimit: deps.config.CACHE_PROMOTE_LIMIT }),
  'archive.lock': (deps) =>
    createArchiveLockHandler({
      get hotStore() {
        return deps.hotStore;
      },
      get ledger() {
        return deps.archiveLedger;
      },
      get archive() {
        return deps.wormArchive;
      },
      settings: archiveLockSettings(deps.config),
    }),
  'retention.cleanup': (deps) => createRetentionCleanupHandler(deps),
  'uploads.abort-stale': (deps) => {
    let artifacts: Queue | undefined;
    return createUploadsAbortStaleHandler({
      get artifacts() {
        return deps.artifacts;
      },
      config: deps.config,
      spool: new Spool(resolve(deps.config.SPOOL_DIR)),
      spoolFileReferenced: async (file) => {
        const id = jobIdOfSpoolFile(file);
        if (id === undefined) return false;
        artifacts ??= new Queue(artifactUploadJob.queue, {
          connection: deps.redis,
          prefix: deps.config.QUEUE_PREFIX,
        });
        const state = await artifacts.getJobState(id);
        // A completed job removed its file already; a failed one may still be retried.
        return state !== 'unknown' && state !== 'completed';
      },
    });
  },
  'artifact.upload': (deps) =>
    createArtifactUploadHandler({
      artifacts: deps.artifacts,
      spoolDir: resolve(deps.config.SPOOL_DIR),
      maxBytes: deps.config.ARTIFACT_MAX_BYTES,
      urlAllowlist: parseUrlAllowlist(deps.config.URL_SOURCE_ALLOWLIST),
      urlDeadlineMs: deps.config.URL_SOURCE_DEADLINE_MS,
      // Opened when an overwrite first needs it: most uploads never touch PostgreSQL.
      audit: {
        begin: (entry) => deps.artifactAudit.begin(entry),
        complete: (jobId, versionId) => deps.artifactAudit.complete(jobId, versionId),
      },
    }),
} satisfies Record<JobNameOf<Definitions>, HandlerFactory<never, Deps>>;

/** Builds every handler from the process's dependencies. */
export function createHandlers(
  deps: Deps,
): Record<string, ReturnType<HandlerFactory<never, Deps>>> {
  return Object.fromEntries(
    Object.entries(HANDLER_FACTORIES as Record<string, HandlerFactory<never, Deps>>).map(
      ([name, factory]) => [name, factory(deps)],
    ),
  );
}

/** The stores a handler closes over (getters would otherwise open every backend). */
function pick(deps: Deps) {
  return { hotStore: deps.hotStore, iocCache: deps.iocCache, hotRule: deps.hotRule };
}
