import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { z } from 'zod';
import { PermanentError, TransientError, isPermanent } from '../../errors/index.js';
import { classifyS3Error, isS3NotFound } from './classify-s3-error.js';

/** S3's most parts per multipart upload. */
export const MAX_PARTS = 10_000;

/** One finished part, as CompleteMultipartUpload wants it. */
export interface FinishedPart {
  PartNumber: number;
  ETag: string;
}

/** What a retry needs to continue an upload: kept with the job after every finished part. */
export const uploadCheckpointSchema = z.strictObject({
  uploadId: z.string().min(1),
  bucket: z.string().min(1),
  key: z.string().min(1),
  /** The part size the upload was started with; a retry keeps it whatever the configuration says now. */
  partSize: z.number().int().positive(),
  /** The digest the upload was created with: it is in the object's metadata from the start. */
  sha256: z.string(),
  parts: z.array(z.strictObject({ PartNumber: z.number().int().min(1), ETag: z.string() })),
});
export type UploadCheckpoint = z.infer<typeof uploadCheckpointSchema>;

/** A checkpoint saved by an earlier attempt, or undefined when there is none (or it is not one). */
export function parseUploadCheckpoint(value: unknown): UploadCheckpoint | undefined {
  const parsed = uploadCheckpointSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

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
 * S3 already holds. The file is read in order, one part at a time, with at most `queueSize`
 * parts in memory, and hashed as it is read (skipped parts too), so the SHA-256 and size are
 * checked against the declared ones before CompleteMultipartUpload: a mismatch aborts the
 * upload and no object appears. Our own multipart code because @aws-sdk/lib-storage's
 * Upload cannot continue an existing multipart upload.
 */
export async function uploadFileResumable(
  options: ResumableUploadOptions,
): Promise<ResumableUploadResult> {
  const { s3, bucket, key, size, signal } = options;
  const sha256 = options.sha256.toLowerCase();
  const metadata = { ...options.metadata, sha256, size: String(size) };
  const where = (operation: string) => ({ bucket, key, operation });

  const file = await open(options.filePath, 'r');
  let uploadId: string | undefined;
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

    // Resume only an upload of this very object and content (metadata is fixed at creation);
    // the part size stays the one it began with.
    let checkpoint = options.checkpoint;
    if (
      checkpoint &&
      (checkpoint.bucket !== bucket || checkpoint.key !== key || checkpoint.sha256 !== sha256)
    ) {
      await abortQuietly(s3, checkpoint);
      checkpoint = undefined;
    }
    const partSize =
      checkpoint?.partSize ?? Math.max(options.partSize, Math.ceil(size / MAX_PARTS));
    const partCount = Math.ceil(size / partSize);
    const partLength = (n: number) => (n < partCount ? partSize : size - (n - 1) * partSize);

    // Parts the server already holds (ListParts is the truth: a part may have finished
    // after the last checkpoint was saved, or the upload may have been aborted meanwhile).
    const held = new Map<number, string>();
    if (checkpoint) {
      const parts = await listParts(s3, checkpoint);
      if (parts === undefined) {
        checkpoint = undefined;
      } else {
        uploadId = checkpoint.uploadId;
        for (const p of parts) {
          if (p.PartNumber <= partCount && p.Size === partLength(p.PartNumber)) {
            held.set(p.PartNumber, p.ETag);
          }
        }
      }
    }
    const fresh = uploadId === undefined;
    if (uploadId === undefined) {
      const created = await s3
        .send(
          new CreateMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            ContentType: options.contentType,
            Metadata: metadata,
          }),
        )
        .catch((err: unknown) => {
          throw classifyS3Error(err, where('CreateMultipartUpload'));
        });
      if (!created.UploadId) {
        throw new TransientError(
          'storage_upload_failed',
          'CreateMultipartUpload gave no UploadId',
          {
            bucket,
            key,
          },
        );
      }
      uploadId = created.UploadId;
    }
    const id = uploadId;

    const finished = new Map<number, string>();
    const snapshot = (): UploadCheckpoint => ({
      uploadId: id,
      bucket,
      key,
      partSize,
      sha256,
      parts: [...finished]
        .sort(([a], [b]) => a - b)
        .map(([PartNumber, ETag]) => ({ PartNumber, ETag })),
    });
    // Saves run one after another and each writes the newest state, so a slow save can
    // never overwrite a later one.
    let saving: Promise<void> = Promise.resolve();
    const save = (): Promise<void> => {
      const next = saving.then(() => options.onCheckpoint?.(snapshot()));
      saving = next.catch(() => undefined);
      return next;
    };
    let bytesDone = 0;
    const progress = async (bytes: number) => {
      bytesDone += bytes;
      // Progress is for people watching; failing to show it must not fail the upload.
      await Promise.resolve(options.onProgress?.(bytesDone, size)).catch(() => undefined);
    };
    // The id is kept before any part is sent: a crash right after still resumes (or aborts) it.
    if (fresh) await save();

    const hash = createHash('sha256');
    const inFlight = new Set<Promise<void>>();
    // queueSize part buffers, reused: a fresh 8 MiB allocation per part leaves freed memory
    // to the allocator's whims and the process grows with the artifact (measured: 239 MB
    // peak for 1 GiB); a fixed pool keeps it at queueSize parts.
    const buffers: Buffer[] = [];
    let failure: unknown;
    let resumedParts = 0;
    let sentParts = 0;
    for (let n = 1; n <= partCount && failure === undefined; n++) {
      // A slot first, then the read: never more than queueSize parts in memory.
      while (inFlight.size >= Math.max(1, options.queueSize)) await Promise.race(inFlight);
      if (failure !== undefined) break;
      if (signal?.aborted) {
        failure = signal.reason ?? new Error('aborted');
        break;
      }
      let body: Buffer;
      const buffer = buffers.pop() ?? Buffer.allocUnsafe(partSize);
      try {
        body = await readPart(file, (n - 1) * partSize, partLength(n), buffer);
      } catch (err) {
        failure = isPermanent(err)
          ? err
          : new TransientError(
              'spool_read_failed',
              `reading the file to upload failed: ${errnoOf(err)}`,
              { bucket, key },
              { cause: err },
            );
        break;
      }
      hash.update(body);
      const known = held.get(n);
      if (known !== undefined && sameContent(known, body)) {
        finished.set(n, known);
        resumedParts += 1;
        buffers.push(buffer);
        await progress(body.length);
        continue;
      }
      const partNumber = n;
      const task: Promise<void> = s3
        .send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId: id,
            PartNumber: partNumber,
            Body: body,
            ContentLength: body.length,
          }),
          signal ? { abortSignal: signal } : {},
        )
        .then(async (out) => {
          if (!out.ETag) throw new Error(`UploadPart ${partNumber} answered without an ETag`);
          finished.set(partNumber, out.ETag);
          sentParts += 1;
          await save().catch((err: unknown) => {
            throw new TransientError(
              'checkpoint_failed',
              `could not save the upload checkpoint after part ${partNumber}: ${String(err)}`,
              { bucket, key, uploadId: id },
              { cause: err },
            );
          });
          await progress(body.length);
        })
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => {
          buffers.push(buffer);
          inFlight.delete(task);
        });
      inFlight.add(task);
    }
    // Let the parts in flight land (and be checkpointed) before deciding anything.
    await Promise.all(inFlight);
    await saving;

    if (failure !== undefined) {
      if (signal?.aborted) {
        throw new TransientError(
          'upload_interrupted',
          `upload of ${bucket}/${key} stopped at part ${finished.size}/${partCount}; a retry continues it`,
          { bucket, key, uploadId: id },
          { cause: failure },
        );
      }
      throw classifyS3Error(failure, where('UploadPart'));
    }

    const digest = hash.digest('hex');
    if (digest !== sha256) {
      throw new PermanentError(
        'checksum_mismatch',
        `SHA-256 of the file to upload is ${digest}, ${sha256} was declared; upload aborted`,
        { bucket, key, declared: sha256, actual: digest },
      );
    }

    const parts = snapshot().parts;
    try {
      await s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: id,
          MultipartUpload: { Parts: parts },
        }),
      );
    } catch (err) {
      // An earlier attempt may have completed it and crashed before hearing back: the
      // object then answers for itself below.
      if (!isS3NotFound(err)) throw classifyS3Error(err, where('CompleteMultipartUpload'));
    }
    const etag = await confirmObject(s3, bucket, key, size, sha256);
    return {
      bucket,
      key,
      size,
      sha256,
      etag,
      uploadId: id,
      parts: partCount,
      resumedParts,
      sentParts,
    };
  } catch (err) {
    // Permanent: nothing a retry could continue, so no incomplete upload is left behind.
    if (uploadId !== undefined && isPermanent(err)) {
      await abortQuietly(s3, { bucket, key, uploadId });
    }
    throw err;
  } finally {
    await file.close();
  }
}

// The file's path names a spool file (how a job is bound to its bytes): messages, which
// become a job's failure reason, say "the file to upload" and an errno code instead.
function errnoOf(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : 'I/O error';
}

/** Aborts a multipart upload; one already gone (completed or aborted) is fine. */
export async function abortMultipartUpload(
  s3: S3Client,
  upload: { bucket: string; key: string; uploadId: string },
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

// Cleanup on a path that is already failing: the original error is the one to report, and
// uploads.abort-stale sweeps whatever this could not abort.
async function abortQuietly(
  s3: S3Client,
  upload: { bucket: string; key: string; uploadId: string },
): Promise<void> {
  await abortMultipartUpload(s3, upload).catch(() => undefined);
}

/** The parts S3 holds for an upload, or undefined when the upload no longer exists. */
async function listParts(
  s3: S3Client,
  upload: { bucket: string; key: string; uploadId: string },
): Promise<{ PartNumber: number; ETag: string; Size: number }[] | undefined> {
  const parts: { PartNumber: number; ETag: string; Size: number }[] = [];
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

/**
 * Whether a part S3 holds has these bytes. A plain part ETag is the MD5 of its bytes, so a
 * part that does not match (a file changed between attempts) is sent again; an ETag of
 * another form (SSE-KMS, SSE-C) cannot be checked, and the part's size already matched.
 */
function sameContent(etag: string, body: Buffer): boolean {
  const plain = etag.replaceAll('"', '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(plain)) return true;
  return createHash('md5').update(body).digest('hex') === plain;
}

/** Reads one part into `into` (at least `length` long) and returns the filled slice. */
async function readPart(
  file: FileHandle,
  position: number,
  length: number,
  into: Buffer,
): Promise<Buffer> {
  const body = into.subarray(0, length);
  let offset = 0;
  while (offset < length) {
    const { bytesRead } = await file.read(body, offset, length - offset, position + offset);
    if (bytesRead === 0) {
      throw new PermanentError(
        'size_mismatch',
        `the file to upload ended at byte ${position + offset} while it was being uploaded`,
        { position: position + offset },
      );
    }
    offset += bytesRead;
  }
  return body;
}

/** HeadObject after the upload: the object must have the size and digest just verified. */
async function confirmObject(
  s3: S3Client,
  bucket: string,
  key: string,
  size: number,
  sha256: string,
): Promise<string | undefined> {
  const head = await s3
    .send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
    .catch((err: unknown) => {
      throw classifyS3Error(err, { bucket, key, operation: 'HeadObject' });
    });
  if (head.ContentLength !== size || head.Metadata?.sha256 !== sha256) {
    throw new TransientError(
      'storage_upload_failed',
      `${bucket}/${key} has ${head.ContentLength} bytes and sha256 ${head.Metadata?.sha256 ?? 'none'} after upload, expected ${size} and ${sha256}`,
      { bucket, key },
    );
  }
  return head.ETag;
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
  const etag = await confirmObject(s3, bucket, key, 0, sha256);
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
