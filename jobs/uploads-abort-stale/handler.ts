import type { S3Client } from '@aws-sdk/client-s3';
import { ARTIFACT_KINDS, type ArtifactKind } from '../../src/domain/artifact.js';
import type { Config } from '../../src/config.js';
import { abortStaleUploads, type BucketSweep } from '../../src/stores/stale-uploads.js';
import type { Handler } from '../job-definition.js';
import type { uploadsAbortStaleJob } from './definition.js';

/** What uploads.abort-stale needs; read when a job runs, so getters stay lazy. */
export interface UploadsAbortStaleDeps {
  readonly s3: S3Client;
  readonly config: Pick<
    Config,
    | 'UPLOAD_STALE_HOURS'
    | 'ARTIFACT_BUCKET_SAMPLES'
    | 'ARTIFACT_BUCKET_TA_BUNDLES'
    | 'ARTIFACT_BUCKET_DEBUG_BUNDLES'
  >;
}

/** What uploads.abort-stale returns. */
export interface AbortStaleReport {
  dry_run: boolean;
  /** ISO 8601: uploads initiated before this were stale. */
  before: string;
  /** Per artifact kind: its bucket, what was aborted (dry: would be) and what was kept. */
  buckets: Record<ArtifactKind, BucketSweep>;
}

/**
 * Aborts the multipart uploads of every artifact bucket initiated before the limit. Safe
 * to rerun: an aborted upload is no longer listed. An upload a retrying artifact.upload
 * meant to resume is then restarted by that job from the first part.
 */
export function createUploadsAbortStaleHandler(
  deps: UploadsAbortStaleDeps,
): Handler<typeof uploadsAbortStaleJob> {
  return async (payload, ctx) => {
    const { config, s3 } = deps;
    const limitMs =
      payload.older_than_seconds !== undefined
        ? payload.older_than_seconds * 1_000
        : (payload.older_than_hours ?? config.UPLOAD_STALE_HOURS) * 3_600_000;
    const before = new Date(Date.now() - limitMs);
    const bucketOf: Record<ArtifactKind, string> = {
      sample: config.ARTIFACT_BUCKET_SAMPLES,
      'ta-bundle': config.ARTIFACT_BUCKET_TA_BUNDLES,
      'debug-bundle': config.ARTIFACT_BUCKET_DEBUG_BUNDLES,
    };
    const buckets = {} as Record<ArtifactKind, BucketSweep>;
    for (const [i, kind] of ARTIFACT_KINDS.entries()) {
      const bucket = bucketOf[kind];
      const sweep = await abortStaleUploads(s3, bucket, {
        before,
        dryRun: payload.dry_run,
        signal: ctx.signal,
      });
      buckets[kind] = sweep;
      ctx.log.info(
        {
          bucket,
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
    const report: AbortStaleReport = {
      dry_run: payload.dry_run,
      before: before.toISOString(),
      buckets,
    };
    return report;
  };
}
