import {
  AbortMultipartUploadCommand,
  ListMultipartUploadsCommand,
  type MultipartUpload,
  type S3Client,
} from '@aws-sdk/client-s3';
import { classifyS3Error, s3ErrorCode, isS3NotFound } from './classify-s3-error.js';

/** One incomplete multipart upload. */
export interface UploadRef {
  key: string;
  upload_id: string;
  /** ISO 8601. */
  initiated: string | null;
}

/** Uploads listed per bucket and outcome in a report; the counts go on past it. */
export const MAX_LISTED_UPLOADS = 1_000;

/** What one bucket's sweep did (dry: would do). */
export interface BucketSweep {
  bucket: string;
  /** Uploads initiated before the limit: aborted (dry: to abort). */
  aborted: number;
  /** Uploads initiated since the limit (or with no initiation time): left alone. */
  kept: number;
  /** The aborted uploads, the first MAX_LISTED_UPLOADS of them. */
  aborted_uploads: UploadRef[];
  /** The kept uploads, the first MAX_LISTED_UPLOADS of them. */
  kept_uploads: UploadRef[];
  /** The bucket does not exist: nothing to sweep. */
  bucket_missing: boolean;
}

/**
 * Aborts the incomplete multipart uploads of a bucket initiated before `before`, page by
 * page. An upload that finished or was aborted meanwhile (NoSuchUpload) is simply gone.
 */
export async function abortStaleUploads(
  s3: S3Client,
  bucket: string,
  options: { before: Date; dryRun: boolean; signal?: AbortSignal },
): Promise<BucketSweep> {
  const sweep: BucketSweep = {
    bucket,
    aborted: 0,
    kept: 0,
    aborted_uploads: [],
    kept_uploads: [],
    bucket_missing: false,
  };
  // Listed, not held: a backlog of stale uploads must not grow the report without bound.
  const note = (list: UploadRef[], ref: UploadRef) => {
    if (list.length < MAX_LISTED_UPLOADS) list.push(ref);
  };
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    options.signal?.throwIfAborted();
    let page;
    try {
      page = await s3.send(
        new ListMultipartUploadsCommand({
          Bucket: bucket,
          ...(keyMarker !== undefined ? { KeyMarker: keyMarker } : {}),
          ...(uploadIdMarker !== undefined ? { UploadIdMarker: uploadIdMarker } : {}),
        }),
      );
    } catch (err) {
      if (s3ErrorCode(err) === 'NoSuchBucket') return { ...sweep, bucket_missing: true };
      throw classifyS3Error(err, { bucket, operation: 'ListMultipartUploads' });
    }
    for (const upload of page.Uploads ?? []) {
      const ref = toRef(upload);
      if (ref === undefined) continue;
      // An upload without an initiation time cannot be shown to be stale: keep it.
      if (upload.Initiated === undefined || upload.Initiated >= options.before) {
        sweep.kept += 1;
        note(sweep.kept_uploads, ref);
        continue;
      }
      if (!options.dryRun && !(await abort(s3, bucket, ref))) continue;
      sweep.aborted += 1;
      note(sweep.aborted_uploads, ref);
    }
    if (!page.IsTruncated) return sweep;
    // Markers are keys and upload ids, not positions, so aborting while paging skips nothing.
    keyMarker = page.NextKeyMarker;
    uploadIdMarker = page.NextUploadIdMarker;
    if (keyMarker === undefined && uploadIdMarker === undefined) return sweep;
  }
}

/** Aborts one upload; false when it was already gone. */
async function abort(s3: S3Client, bucket: string, ref: UploadRef): Promise<boolean> {
  try {
    await s3.send(
      new AbortMultipartUploadCommand({ Bucket: bucket, Key: ref.key, UploadId: ref.upload_id }),
    );
    return true;
  } catch (err) {
    // RGW 16 answers NoSuchKey for an unknown upload id, AWS NoSuchUpload.
    if (isS3NotFound(err)) return false;
    throw classifyS3Error(err, { bucket, key: ref.key, operation: 'AbortMultipartUpload' });
  }
}

function toRef(upload: MultipartUpload): UploadRef | undefined {
  if (upload.Key === undefined || upload.UploadId === undefined) return undefined;
  return {
    key: upload.Key,
    upload_id: upload.UploadId,
    initiated: upload.Initiated?.toISOString() ?? null,
  };
}
