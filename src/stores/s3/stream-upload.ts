import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { TransientError } from '../../errors/index.js';
import { DigestStream } from '../local/digest-stream.js';
import { classifyS3Error } from './classify-s3-error.js';
import { headObject, type ObjectTarget } from './multipart-upload.js';

/** What to stream where, what to enforce on the bytes, and how to report. */
export interface StreamUploadOptions extends ObjectTarget {
  s3: S3Client;
  /** The bytes; destroyed when the upload fails or stops. */
  body: Readable;
  /** Where the bytes come from, for messages (no secrets: origin and path of a URL). */
  from: string;
  contentType: string;
  /** User metadata; `sha256` and `size` are added once known. */
  metadata: Record<string, string>;
  /** More bytes than this fail the upload (storage_quota_exceeded). */
  maxBytes: number;
  /** Declared size and SHA-256 (lower-case hex): a mismatch fails the upload before it completes. */
  expectedSize?: number | undefined;
  expectedSha256?: string | undefined;
  /** The size the source announced (Content-Length) when none was declared: for metadata. */
  announcedSize?: number | undefined;
  partSize: number;
  queueSize: number;
  /** Bytes read so far, about every part. */
  onProgress?: ((bytes: number) => void) | undefined;
  /** Stops the upload (upload_interrupted); its multipart upload is aborted before it returns. */
  signal: AbortSignal;
}

/** What a stream upload stored. */
export interface StreamUploadResult {
  size: number;
  sha256: string;
  etag: string | undefined;
  parts: number;
}

/**
 * Streams bytes through a DigestStream into lib-storage's Upload (not resumable: a retry
 * reads the source again, and a failed Upload aborts its multipart upload). The stream
 * fails before its end on a size or digest mismatch, so Upload never completes wrong
 * bytes. S3 metadata is fixed when an upload starts, so an undeclared digest is added
 * afterwards by copying the object onto itself (MetadataDirective REPLACE), guarded by its
 * ETag.
 */
export async function uploadStream(options: StreamUploadOptions): Promise<StreamUploadResult> {
  const total = options.expectedSize ?? options.announcedSize;
  const digest = new DigestStream({
    maxBytes: options.maxBytes,
    expectedSize: options.expectedSize,
    expectedSha256: options.expectedSha256,
    progressEvery: options.partSize,
    onProgress: options.onProgress,
  });
  // Errors of either side end up in the Upload, which reads the digest stream.
  pipeline(options.body, digest).catch(() => undefined);

  const metadata: Record<string, string> = {
    ...options.metadata,
    ...(options.expectedSha256 ? { sha256: options.expectedSha256 } : {}),
    ...(total !== undefined ? { size: String(total) } : {}),
  };
  await sendStream(options, digest, metadata);

  const { size, sha256, etag } = await verifyStreamedObject(options, digest);
  return {
    size,
    sha256,
    etag: options.expectedSha256
      ? etag
      : await stampDigest(options, etag, { ...metadata, sha256, size: String(size) }),
    parts: Math.max(1, Math.ceil(size / options.partSize)),
  };
}

/** Runs lib-storage's Upload of the digest stream; a stop or failure destroys the source. */
async function sendStream(
  options: StreamUploadOptions,
  digest: DigestStream,
  metadata: Record<string, string>,
): Promise<void> {
  const { s3, bucket, key, body, signal } = options;
  const upload = new Upload({
    client: withAbortableParts(s3, signal),
    params: {
      Bucket: bucket,
      Key: key,
      Body: digest,
      ContentType: options.contentType,
      Metadata: metadata,
    },
    partSize: options.partSize,
    queueSize: options.queueSize,
    leavePartsOnError: false,
  });
  // The source is failed, not the Upload aborted: Upload.abort() makes done() reject at once
  // while its multipart upload is aborted in the background, after the caller moved on. A
  // failed source ends done() only once Upload has aborted its multipart upload itself, so
  // a stopped job leaves none behind.
  const stop = () => {
    const stopped = new Error(`upload of ${bucket}/${key} stopped`);
    body.destroy(stopped);
    digest.destroy(stopped);
  };
  signal.addEventListener('abort', stop, { once: true });
  try {
    await upload.done();
  } catch (err) {
    body.destroy();
    if (signal.aborted) {
      throw new TransientError(
        'upload_interrupted',
        `upload of ${bucket}/${key} from ${options.from} stopped`,
        { bucket, key },
      );
    }
    throw classifyS3Error(err, { bucket, key, operation: 'Upload' });
  } finally {
    signal.removeEventListener('abort', stop);
  }
}

/**
 * The client Upload sends through, its UploadParts bound to `signal`. Upload sends parts
 * without one: a part in flight when the job stops kept the multipart upload open until S3
 * answered it (minutes, for a stalled S3), after the job had already ended. Aborted, the part
 * fails at once and Upload aborts its multipart upload (that request is not bound).
 */
function withAbortableParts(s3: S3Client, signal: AbortSignal): S3Client {
  const send = s3.send.bind(s3) as (command: unknown, options?: object) => Promise<unknown>;
  const client = Object.create(s3) as S3Client;
  Object.defineProperty(client, 'send', {
    value: (command: unknown, options?: object) =>
      send(
        command,
        command instanceof UploadPartCommand ? { ...options, abortSignal: signal } : options,
      ),
  });
  return client;
}

/**
 * HeadObject after the upload: the object holds the bytes just hashed, or it is deleted.
 * Belt and braces: the stream already failed on any mismatch, so this never fires unless
 * something between us and S3 changed the bytes.
 */
async function verifyStreamedObject(
  options: StreamUploadOptions,
  digest: DigestStream,
): Promise<{ size: number; sha256: string; etag: string | undefined }> {
  const { s3, bucket, key } = options;
  const sha256 = digest.sha256;
  const size = digest.bytes;
  const head = await headObject(s3, options);
  if (sha256 === undefined || head.ContentLength !== size) {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch((err: unknown) => {
      throw classifyS3Error(err, { bucket, key, operation: 'DeleteObject' });
    });
    throw new TransientError(
      'storage_upload_failed',
      `${bucket}/${key} holds ${head.ContentLength} bytes after upload, ${size} were sent; deleted`,
      { bucket, key },
    );
  }
  return { size, sha256, etag: head.ETag };
}

/**
 * Adds the computed digest to the object's metadata by copying it onto itself; its new
 * ETag. REPLACE drops the content type too, so it is given again. IfMatch: the copy applies
 * to the bytes just hashed, not to an object someone wrote meanwhile.
 */
async function stampDigest(
  options: StreamUploadOptions,
  etag: string | undefined,
  metadata: Record<string, string>,
): Promise<string | undefined> {
  const { s3, bucket, key } = options;
  await s3
    .send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: key,
        CopySource: `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`,
        ...(etag ? { CopySourceIfMatch: etag } : {}),
        MetadataDirective: 'REPLACE',
        ContentType: options.contentType,
        Metadata: metadata,
      }),
    )
    .catch((err: unknown) => {
      throw classifyS3Error(err, { bucket, key, operation: 'CopyObject' });
    });
  return (await headObject(s3, options)).ETag;
}
