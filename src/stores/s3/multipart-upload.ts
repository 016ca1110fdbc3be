// The S3 calls of one multipart upload, each a small step with its errors classified:
// create, list the parts S3 holds, complete, abort, and the HeadObject that verifies the
// result. The resumable upload (resumable-upload.ts) strings them together.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListPartsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { TransientError } from '../../errors/index.js';
import { classifyS3Error, isS3NotFound } from './classify-s3-error.js';
import type { FinishedPart } from './upload-checkpoint.js';

/** An object in a bucket. */
export interface ObjectTarget {
  bucket: string;
  key: string;
}

/** One multipart upload of an object. */
export interface MultipartUploadRef extends ObjectTarget {
  uploadId: string;
}

/** A part S3 holds for an upload. */
export interface UploadedPart extends FinishedPart {
  Size: number;
}

/** Starts a multipart upload; its content type and metadata are fixed from now on. */
export async function createMultipartUpload(
  s3: S3Client,
  target: ObjectTarget,
  object: { contentType: string; metadata: Record<string, string> },
): Promise<string> {
  const { bucket, key } = target;
  const created = await s3
    .send(
      new CreateMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        ContentType: object.contentType,
        Metadata: object.metadata,
      }),
    )
    .catch((err: unknown) => {
      throw classifyS3Error(err, { bucket, key, operation: 'CreateMultipartUpload' });
    });
  if (!created.UploadId) {
    throw new TransientError('storage_upload_failed', 'CreateMultipartUpload gave no UploadId', {
      bucket,
      key,
    });
  }
  return created.UploadId;
}

/** The parts S3 holds for an upload, or undefined when the upload no longer exists. */
export async function listUploadedParts(
  s3: S3Client,
  upload: MultipartUploadRef,
): Promise<UploadedPart[] | undefined> {
  const parts: UploadedPart[] = [];
  let marker: string | undefined;
  for (;;) {
    let out;
    try {
      out = await s3.send(
        new ListPartsCommand({
          Bucket: upload.bucket,
          Key: upload.key,
          UploadId: upload.uploadId,
          ...(marker ? { PartNumberMarker: marker } : {}),
        }),
      );
    } catch (err) {
      // NoSuchUpload on AWS; RGW 16 says NoSuchKey for an upload that was completed or aborted.
      if (isS3NotFound(err)) return undefined;
      throw classifyS3Error(err, {
        bucket: upload.bucket,
        key: upload.key,
        operation: 'ListParts',
      });
    }
    for (const p of out.Parts ?? []) {
      if (p.PartNumber !== undefined && p.ETag && p.Size !== undefined) {
        parts.push({ PartNumber: p.PartNumber, ETag: p.ETag, Size: p.Size });
      }
    }
    if (!out.IsTruncated || !out.NextPartNumberMarker) return parts;
    marker = out.NextPartNumberMarker;
  }
}

/** Completes an upload from its parts; one already completed by an earlier attempt is fine. */
export async function completeMultipartUpload(
  s3: S3Client,
  upload: MultipartUploadRef,
  parts: FinishedPart[],
): Promise<void> {
  try {
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: upload.bucket,
        Key: upload.key,
        UploadId: upload.uploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
  } catch (err) {
    // An earlier attempt may have completed it and crashed before hearing back: the
    // object then answers for itself when it is verified.
    if (!isS3NotFound(err)) {
      throw classifyS3Error(err, {
        bucket: upload.bucket,
        key: upload.key,
        operation: 'CompleteMultipartUpload',
      });
    }
  }
}

/** Aborts a multipart upload; one already gone (completed or aborted) is fine. */
export async function abortMultipartUpload(
  s3: S3Client,
  upload: MultipartUploadRef,
): Promise<void> {
  try {
    await s3.send(
      new AbortMultipartUploadCommand({
        Bucket: upload.bucket,
        Key: upload.key,
        UploadId: upload.uploadId,
      }),
    );
  } catch (err) {
    if (!isS3NotFound(err)) {
      throw classifyS3Error(err, {
        bucket: upload.bucket,
        key: upload.key,
        operation: 'AbortMultipartUpload',
      });
    }
  }
}

/**
 * Aborts an upload on a path that is already failing: the original error is the one to
 * report, and uploads.abort-stale sweeps whatever this could not abort.
 */
export async function abortQuietly(s3: S3Client, upload: MultipartUploadRef): Promise<void> {
  await abortMultipartUpload(s3, upload).catch(() => undefined);
}

/** HeadObject of an object that must exist, errors classified. */
export async function headObject(s3: S3Client, target: ObjectTarget) {
  const { bucket, key } = target;
  return s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).catch((err: unknown) => {
    throw classifyS3Error(err, { bucket, key, operation: 'HeadObject' });
  });
}

/** HeadObject after an upload: the object must have the size and digest just verified; its ETag. */
export async function verifyUploadedObject(
  s3: S3Client,
  target: ObjectTarget,
  expected: { size: number; sha256: string },
): Promise<string | undefined> {
  const { bucket, key } = target;
  const head = await headObject(s3, target);
  if (head.ContentLength !== expected.size || head.Metadata?.sha256 !== expected.sha256) {
    throw new TransientError(
      'storage_upload_failed',
      `${bucket}/${key} has ${head.ContentLength} bytes and sha256 ${head.Metadata?.sha256 ?? 'none'} after upload, expected ${expected.size} and ${expected.sha256}`,
      { bucket, key },
    );
  }
  return head.ETag;
}
