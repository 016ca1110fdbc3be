import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { PermanentError, isPermanent } from '../../errors/index.js';
import { classifyS3Error } from './classify-s3-error.js';
import {
  abortQuietly,
  completeMultipartUpload,
  createMultipartUpload,
  listUploadedParts,
  verifyUploadedObject,
  type MultipartUploadRef,
} from './multipart-upload.js';
import { partsDigest } from './intake-parts.js';
import { planParts, uploadMissingParts, type PartPlan } from './part-upload.js';
import { UploadCheckpointLog, type UploadCheckpoint } from './upload-checkpoint.js';

/** S3's most parts per multipart upload. */
export const MAX_PARTS = 10_000;

/** What to upload where, and how to report. */
export interface ResumableUploadOptions {
  s3: S3Client;
  bucket: string;
  key: string;
  /** A local file that does not change while it is uploaded (a spool file). */
  filePath: string;
  /** The declared size and SHA-256 (lower-case hex): the upload completes only if both match. */
  size: number;
  sha256: string;
  contentType: string;
  /** User metadata; `sha256` and `size` are added (and win). */
  metadata?: Record<string, string>;
  partSize: number;
  /** Parts in flight (and in memory) at once. */
  queueSize: number;
  /** Where an earlier attempt got to. */
  checkpoint?: UploadCheckpoint | undefined;
  /** Called after the upload is created and after every finished part; a retry gets it back. */
  onCheckpoint?: (state: UploadCheckpoint) => Promise<void>;
  /** Bytes sent or skipped so far, after every part. */
  onProgress?: (bytes: number, total: number) => Promise<void> | void;
  /** Stops sending parts; the multipart upload is kept so that a retry continues it. */
  signal?: AbortSignal | undefined;
  /**
   * The checkpoint's upload was filled by the intake while the file arrived, and these are
   * its parts (partsDigest): when S3 holds exactly them, the upload is completed without
   * reading the file (the intake hashed those very bytes); otherwise it goes on as a resume.
   */
  partsSha256?: string | undefined;
}

/** How an upload went. */
export interface ResumableUploadResult {
  bucket: string;
  key: string;
  size: number;
  sha256: string;
  /** From HeadObject: RGW answers CompleteMultipartUpload with an empty ETag. */
  etag: string | undefined;
  uploadId: string | undefined;
  parts: number;
  /** Parts found on the server from an earlier attempt and not sent again. */
  resumedParts: number;
  /** Parts sent by this attempt. */
  sentParts: number;
}

/**
 * Uploads a local file by multipart upload that survives a crash: the upload id and every
 * finished part go to `onCheckpoint`, and a later call with that checkpoint skips the parts
 * S3 already holds. The steps: check the file's size, find (or create) the upload, upload
 * the missing parts while hashing the file, check the digest, complete, verify the object.
 * A size or digest mismatch aborts the upload and no object appears. Our own multipart
 * code because @aws-sdk/lib-storage's Upload cannot continue an existing multipart upload.
 */
export async function uploadFileResumable(
  options: ResumableUploadOptions,
): Promise<ResumableUploadResult> {
  const { s3, bucket, key, size } = options;
  const sha256 = options.sha256.toLowerCase();
  const metadata = { ...options.metadata, sha256, size: String(size) };

  const file = await open(options.filePath, 'r');
  let upload: MultipartUploadRef | undefined;
  try {
    const { size: onDisk } = await file.stat();
    if (onDisk !== size) {
      throw new PermanentError(
        'size_mismatch',
        `the file to upload holds ${onDisk} bytes, ${size} were declared`,
        { bucket, key, declared: size, actual: onDisk },
      );
    }
    if (size === 0) return await putEmpty(options, metadata);

    const checkpoint = await checkpointOfThisObject(s3, options.checkpoint, {
      bucket,
      key,
      sha256,
    });
    // A resumed upload keeps the part size it began with.
    const plan = planParts(
      size,
      checkpoint?.partSize ?? Math.max(options.partSize, Math.ceil(size / MAX_PARTS)),
    );
    const found = await findOrCreateUpload(s3, checkpoint, plan, {
      bucket,
      key,
      contentType: options.contentType,
      metadata,
    });
    upload = found.upload;
    const checkpoints = new UploadCheckpointLog(
      { uploadId: upload.uploadId, bucket, key, partSize: plan.partSize, sha256 },
      options.onCheckpoint,
    );
    // The id is kept before any part is sent: a crash right after still resumes (or aborts) it.
    if (found.fresh) await checkpoints.save();

    if (!found.fresh && isIntakeUpload(found.held, plan, options.partsSha256)) {
      for (const [n, etag] of found.held) checkpoints.finish(n, etag);
      await completeMultipartUpload(s3, upload, checkpoints.snapshot().parts);
      const etag = await verifyUploadedObject(s3, upload, { size, sha256 });
      await Promise.resolve(options.onProgress?.(size, size)).catch(() => undefined);
      return {
        bucket,
        key,
        size,
        sha256,
        etag,
        uploadId: upload.uploadId,
        parts: plan.partCount,
        resumedParts: plan.partCount,
        sentParts: 0,
      };
    }

    const sent = await uploadMissingParts({
      s3,
      upload,
      file,
      size,
      plan,
      held: found.held,
      queueSize: options.queueSize,
      checkpoints,
      onProgress: options.onProgress,
      signal: options.signal,
    });
    if (sent.sha256 !== sha256) {
      throw new PermanentError(
        'checksum_mismatch',
        `SHA-256 of the file to upload is ${sent.sha256}, ${sha256} was declared; upload aborted`,
        { bucket, key, declared: sha256, actual: sent.sha256 },
      );
    }
    await completeMultipartUpload(s3, upload, checkpoints.snapshot().parts);
    const etag = await verifyUploadedObject(s3, upload, { size, sha256 });
    return {
      bucket,
      key,
      size,
      sha256,
      etag,
      uploadId: upload.uploadId,
      parts: plan.partCount,
      resumedParts: sent.resumedParts,
      sentParts: sent.sentParts,
    };
  } catch (err) {
    // Permanent: nothing a retry could continue, so no incomplete upload is left behind.
    if (upload !== undefined && isPermanent(err)) await abortQuietly(s3, upload);
    throw err;
  } finally {
    await file.close();
  }
}

/** Whether S3 holds every planned part and exactly the parts the intake sent. */
function isIntakeUpload(
  held: ReadonlyMap<number, string>,
  plan: PartPlan,
  partsSha256: string | undefined,
): boolean {
  if (partsSha256 === undefined || held.size !== plan.partCount) return false;
  const parts = [...held]
    .sort(([a], [b]) => a - b)
    .map(([PartNumber, ETag]) => ({ PartNumber, ETag }));
  return partsDigest(parts) === partsSha256;
}

/**
 * The checkpoint when it is of this very object and content (metadata is fixed when an
 * upload is created); the upload of any other is aborted and forgotten.
 */
async function checkpointOfThisObject(
  s3: S3Client,
  checkpoint: UploadCheckpoint | undefined,
  object: { bucket: string; key: string; sha256: string },
): Promise<UploadCheckpoint | undefined> {
  if (
    checkpoint &&
    (checkpoint.bucket !== object.bucket ||
      checkpoint.key !== object.key ||
      checkpoint.sha256 !== object.sha256)
  ) {
    await abortQuietly(s3, checkpoint);
    return undefined;
  }
  return checkpoint;
}

/**
 * The checkpoint's upload with the parts S3 holds of the planned size (ListParts is the
 * truth: a part may have finished after the last checkpoint was saved, or the upload may
 * have been aborted meanwhile), or a new upload when there is none to continue.
 */
async function findOrCreateUpload(
  s3: S3Client,
  checkpoint: UploadCheckpoint | undefined,
  plan: PartPlan,
  object: { bucket: string; key: string; contentType: string; metadata: Record<string, string> },
): Promise<{ upload: MultipartUploadRef; held: Map<number, string>; fresh: boolean }> {
  const held = new Map<number, string>();
  const parts = checkpoint ? await listUploadedParts(s3, checkpoint) : undefined;
  if (checkpoint && parts !== undefined) {
    for (const p of parts) {
      if (p.PartNumber <= plan.partCount && p.Size === plan.partLength(p.PartNumber)) {
        held.set(p.PartNumber, p.ETag);
      }
    }
    const { bucket, key, uploadId } = checkpoint;
    return { upload: { bucket, key, uploadId }, held, fresh: false };
  }
  const { bucket, key } = object;
  const uploadId = await createMultipartUpload(s3, { bucket, key }, object);
  return { upload: { bucket, key, uploadId }, held, fresh: true };
}

// An empty file: multipart needs at least one part, a plain PutObject does the same job.
async function putEmpty(
  options: ResumableUploadOptions,
  metadata: Record<string, string>,
): Promise<ResumableUploadResult> {
  const { s3, bucket, key } = options;
  const sha256 = createHash('sha256').digest('hex');
  if (options.sha256.toLowerCase() !== sha256) {
    throw new PermanentError(
      'checksum_mismatch',
      `SHA-256 of the empty file to upload is ${sha256}, ${options.sha256} was declared`,
      { bucket, key, declared: options.sha256, actual: sha256 },
    );
  }
  await s3
    .send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: Buffer.alloc(0),
        ContentLength: 0,
        ContentType: options.contentType,
        Metadata: metadata,
      }),
    )
    .catch((err: unknown) => {
      throw classifyS3Error(err, { bucket, key, operation: 'PutObject' });
    });
  const etag = await verifyUploadedObject(s3, { bucket, key }, { size: 0, sha256 });
  await Promise.resolve(options.onProgress?.(0, 0)).catch(() => undefined);
  return {
    bucket,
    key,
    size: 0,
    sha256,
    etag,
    uploadId: undefined,
    parts: 0,
    resumedParts: 0,
    sentParts: 0,
  };
}
