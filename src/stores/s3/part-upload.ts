import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import { PermanentError, TransientError, isPermanent } from '../../errors/index.js';
import { classifyS3Error } from './classify-s3-error.js';
import type { MultipartUploadRef } from './multipart-upload.js';
import type { UploadCheckpointLog } from './upload-checkpoint.js';

/** How a file is cut into parts. */
export interface PartPlan {
  partSize: number;
  partCount: number;
  /** Bytes of one part (1-based); the last one holds the rest. */
  partLength(partNumber: number): number;
}

/** The parts of a file of `size` bytes at `partSize` each. */
export function planParts(size: number, partSize: number): PartPlan {
  const partCount = Math.ceil(size / partSize);
  return {
    partSize,
    partCount,
    partLength: (n) => (n < partCount ? partSize : size - (n - 1) * partSize),
  };
}

/** What uploading the missing parts needs. */
export interface MissingParts {
  s3: S3Client;
  upload: MultipartUploadRef;
  file: FileHandle;
  /** The file's size: the total progress reports against. */
  size: number;
  plan: PartPlan;
  /** Parts S3 already holds (ETag by part number), of the right size. */
  held: ReadonlyMap<number, string>;
  /** Parts in flight (and in memory) at once. */
  queueSize: number;
  /** Each finished part is recorded here and a checkpoint saved. */
  checkpoints: UploadCheckpointLog;
  onProgress?: ((bytes: number, total: number) => Promise<void> | void) | undefined;
  signal?: AbortSignal | undefined;
}

/** What uploading the missing parts did. */
export interface PartsUploaded {
  /** SHA-256 (lower-case hex) of the whole file, held parts included. */
  sha256: string;
  /** Parts found on the server and not sent again. */
  resumedParts: number;
  /** Parts sent by this attempt. */
  sentParts: number;
}

/**
 * Reads the file in order, one part at a time, with at most `queueSize` parts in memory,
 * and hashes it as it is read (held parts too). A part S3 already holds with these bytes
 * is kept; every other part is sent, and the checkpoint saved after each. Parts in flight
 * land (and are checkpointed) before any failure is thrown.
 */
export async function uploadMissingParts(run: MissingParts): Promise<PartsUploaded> {
  const { s3, upload, file, plan, held, checkpoints, signal } = run;
  const { bucket, key, uploadId } = upload;
  let bytesDone = 0;
  const progress = async (bytes: number) => {
    bytesDone += bytes;
    // Progress is for people watching; failing to show it must not fail the upload.
    await Promise.resolve(run.onProgress?.(bytesDone, run.size)).catch(() => undefined);
  };

  const hash = createHash('sha256');
  const inFlight = new Set<Promise<void>>();
  // queueSize part buffers, reused: a fresh 8 MiB allocation per part leaves freed memory
  // to the allocator's whims and the process grows with the artifact (measured: 239 MB
  // peak for 1 GiB); a fixed pool keeps it at queueSize parts.
  const buffers: Buffer[] = [];
  let failure: unknown;
  let resumedParts = 0;
  let sentParts = 0;
  for (let n = 1; n <= plan.partCount && failure === undefined; n++) {
    // A slot first, then the read: never more than queueSize parts in memory.
    while (inFlight.size >= Math.max(1, run.queueSize)) await Promise.race(inFlight);
    if (failure !== undefined) break;
    if (signal?.aborted) {
      failure = signal.reason ?? new Error('aborted');
      break;
    }
    let body: Buffer;
    const buffer = buffers.pop() ?? Buffer.allocUnsafe(plan.partSize);
    try {
      body = await readPart(file, (n - 1) * plan.partSize, plan.partLength(n), buffer);
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
      checkpoints.finish(n, known);
      resumedParts += 1;
      buffers.push(buffer);
      await progress(body.length);
      continue;
    }
    const partNumber = n;
    const task: Promise<void> = sendPart(s3, upload, partNumber, body, signal)
      .then(async (etag) => {
        checkpoints.finish(partNumber, etag);
        sentParts += 1;
        await checkpoints.save().catch((err: unknown) => {
          throw new TransientError(
            'checkpoint_failed',
            `could not save the upload checkpoint after part ${partNumber}: ${String(err)}`,
            { bucket, key, uploadId },
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
  await checkpoints.settled();

  if (failure !== undefined) {
    if (signal?.aborted) {
      throw new TransientError(
        'upload_interrupted',
        `upload of ${bucket}/${key} stopped at part ${checkpoints.count}/${plan.partCount}; a retry continues it`,
        { bucket, key, uploadId },
        { cause: failure },
      );
    }
    throw classifyS3Error(failure, { bucket, key, operation: 'UploadPart' });
  }
  return { sha256: hash.digest('hex'), resumedParts, sentParts };
}

/** UploadPart of one part; its ETag. */
async function sendPart(
  s3: S3Client,
  upload: MultipartUploadRef,
  partNumber: number,
  body: Buffer,
  signal: AbortSignal | undefined,
): Promise<string> {
  const out = await s3.send(
    new UploadPartCommand({
      Bucket: upload.bucket,
      Key: upload.key,
      UploadId: upload.uploadId,
      PartNumber: partNumber,
      Body: body,
      ContentLength: body.length,
    }),
    signal ? { abortSignal: signal } : {},
  );
  if (!out.ETag) throw new Error(`UploadPart ${partNumber} answered without an ETag`);
  return out.ETag;
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

// The file's path names a spool file (how a job is bound to its bytes): messages, which
// become a job's failure reason, say "the file to upload" and an errno code instead.
function errnoOf(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : 'I/O error';
}
