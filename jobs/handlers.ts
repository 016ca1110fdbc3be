import { resolve } from 'node:path';
import { parseUrlAllowlist } from '../src/domain/url-allowlist.js';
import type { Deps } from '../src/deps.js';
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
  'uploads.abort-stale': (deps) => createUploadsAbortStaleHandler(deps),
  'artifact.upload': (deps) =>
    createArtifactUploadHandler({
      artifacts: deps.artifacts,
      s3: deps.s3,
      spoolDir: resolve(deps.config.SPOOL_DIR),
      partSize: deps.config.UPLOAD_PART_SIZE_BYTES,
      queueSize: deps.config.UPLOAD_QUEUE_SIZE,
      maxBytes: deps.config.ARTIFACT_MAX_BYTES,
      urlAllowlist: parseUrlAllowlist(deps.config.URL_SOURCE_ALLOWLIST),
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
