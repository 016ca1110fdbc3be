import { ARTIFACT_KINDS, type ArtifactKind } from '../../src/domain/artifact.js';
import type { Spool } from '../../src/stores/local/spool.js';
import type { S3ArtifactStore } from '../../src/stores/s3/artifact-store.js';
import type { BucketSweep } from '../../src/stores/s3/stale-uploads.js';
import type { Handler } from '../job-definition.js';
import type { uploadsAbortStaleJob } from './definition.js';

/** The settings uploads.abort-stale reads (projected from configuration once). */
export interface AbortStaleSettings {
  /** UPLOAD_STALE_HOURS: uploads initiated longer ago are stale, unless a payload says otherwise. */
  readonly staleHours: number;
  /** SPOOL_ORPHAN_GRACE_MINUTES: how long an unreferenced spool file is left alone. */
  readonly spoolOrphanGraceMinutes: number;
}

/** What uploads.abort-stale needs. */
export interface UploadsAbortStaleDeps {
  /** The artifact buckets whose incomplete multipart uploads are swept. */
  readonly artifacts: Pick<S3ArtifactStore, 'abortStaleUploads'>;
  readonly settings: AbortStaleSettings;
  /** The spool shared with the api, swept for files no job references. */
  readonly spool: Pick<Spool, 'sweep'>;
  /** Whether a bound spool file's job still needs it (exists and has not completed). */
  readonly spoolFileReferenced: (file: string) => Promise<boolean>;
}

/** What the spool sweep did (dry: would do); the names removed are in the worker's log. */
export interface SpoolSweepReport {
  /** ISO 8601: files untouched since before this and referenced by no job were orphans. */
  before: string;
  removed: number;
  removed_bytes: number;
  kept: number;
}

/** What uploads.abort-stale returns. */
export interface AbortStaleReport {
  dry_run: boolean;
  /** ISO 8601: uploads initiated before this were stale. */
  before: string;
  /** Per artifact kind: its bucket, what was aborted (dry: would be) and what was kept. */
  buckets: Record<ArtifactKind, BucketSweep>;
  /** Orphaned spool files (older than SPOOL_ORPHAN_GRACE_MINUTES, no job needs them). */
  spool: SpoolSweepReport;
}

/**
 * Aborts the multipart uploads of every artifact bucket initiated before the limit. Safe
 * to rerun: an aborted upload is no longer listed. An upload a retrying artifact.upload
 * meant to resume is then restarted by that job from the first part. Then removes spool
 * files that no job references (partial uploads an api crash left, files whose job is gone
 * or done) once untouched for SPOOL_ORPHAN_GRACE_MINUTES, logging each.
 */
export function createUploadsAbortStaleHandler(
  deps: UploadsAbortStaleDeps,
): Handler<typeof uploadsAbortStaleJob> {
  return async (payload, ctx) => {
    const { settings } = deps;
    const limitMs =
      payload.older_than_seconds !== undefined
        ? payload.older_than_seconds * 1_000
        : (payload.older_than_hours ?? settings.staleHours) * 3_600_000;
    const before = new Date(Date.now() - limitMs);
    const buckets = {} as Record<ArtifactKind, BucketSweep>;
    for (const [i, kind] of ARTIFACT_KINDS.entries()) {
      const sweep = await deps.artifacts.abortStaleUploads(kind, {
        before,
        dryRun: payload.dry_run,
        signal: ctx.signal,
      });
      buckets[kind] = sweep;
      ctx.log.info(
        {
          bucket: sweep.bucket,
          kind,
          aborted: sweep.aborted,
          kept: sweep.kept,
          keys: sweep.aborted_uploads.map((u) => u.key),
          dry_run: payload.dry_run,
          bucket_missing: sweep.bucket_missing,
        },
        payload.dry_run ? 'stale uploads found (dry run)' : 'stale uploads aborted',
      );
      await ctx.progress(Math.round(((i + 1) / ARTIFACT_KINDS.length) * 100));
    }
    const spoolBefore = new Date(Date.now() - settings.spoolOrphanGraceMinutes * 60_000);
    const swept = await deps.spool.sweep({
      before: spoolBefore,
      referenced: deps.spoolFileReferenced,
      dryRun: payload.dry_run,
    });
    for (const orphan of swept.removed) {
      ctx.log.info(
        {
          file: orphan.file,
          bytes: orphan.bytes,
          modified: orphan.modified,
          dry_run: payload.dry_run,
        },
        payload.dry_run ? 'orphaned spool file found (dry run)' : 'orphaned spool file removed',
      );
    }
    const report: AbortStaleReport = {
      dry_run: payload.dry_run,
      before: before.toISOString(),
      buckets,
      spool: {
        before: spoolBefore.toISOString(),
        removed: swept.removed.length,
        removed_bytes: swept.removed_bytes,
        kept: swept.kept,
      },
    };
    return report;
  };
}
