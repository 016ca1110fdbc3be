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
  return new MissingPartsUpload(run).upload();
}

/** One pass over a file's parts: the state uploadMissingParts keeps while parts are in flight. */
class MissingPartsUpload {
  private readonly hash = createHash('sha256');
  private readonly inFlight = new Set<Promise<void>>();
  // queueSize part buffers, reused: a fresh 8 MiB allocation per part leaves freed memory
  // to the allocator's whims and the process grows with the artifact (measured: 239 MB
  // peak for 1 GiB); a fixed pool keeps it at queueSize parts.
  private readonly buffers: Buffer[] = [];
  private failure: unknown;
  private bytesDone = 0;
  private resumedParts = 0;
  private sentParts = 0;

  constructor(private readonly run: MissingParts) {}

  async upload(): Promise<PartsUploaded> {
    const { plan, signal } = this.run;
    for (let n = 1; n <= plan.partCount && this.failure === undefined; n++) {
      // A slot first, then the read: never more than queueSize parts in memory.
      while (this.inFlight.size >= Math.max(1, this.run.queueSize)) {
        await Promise.race(this.inFlight);
      }
      if (this.failure !== undefined) break;
      if (signal?.aborted) {
        this.failure = signal.reason ?? new Error('aborted');
        break;
      }
      const buffer = this.buffers.pop() ?? Buffer.allocUnsafe(plan.partSize);
      const body = await this.read(n, buffer);
      if (body === undefined) break;
      this.hash.update(body);
      if (await this.keepHeld(n, body, buffer)) continue;
      this.send(n, body, buffer);
    }
    // Let the parts in flight land (and be checkpointed) before deciding anything.
    await Promise.all(this.inFlight);
    await this.run.checkpoints.settled();
    this.throwFailure();
    return {
      sha256: this.hash.digest('hex'),
      resumedParts: this.resumedParts,
      sentParts: this.sentParts,
    };
  }

  /** Reads part n, or records why it could not be read and answers undefined. */
  private async read(n: number, buffer: Buffer): Promise<Buffer | undefined> {
    const { file, plan, upload } = this.run;
    try {
      return await readPart(file, (n - 1) * plan.partSize, plan.partLength(n), buffer);
    } catch (err) {
      this.failure = isPermanent(err)
        ? err
        : new TransientError(
            'spool_read_failed',
            `reading the file to upload failed: ${errnoOf(err)}`,
            { bucket: upload.bucket, key: upload.key },
            { cause: err },
          );
      return undefined;
    }
  }

  /** Keeps part n when S3 already holds these bytes for it. */
  private async keepHeld(n: number, body: Buffer, buffer: Buffer): Promise<boolean> {
    const known = this.run.held.get(n);
    if (known === undefined || !sameContent(known, body)) return false;
    this.run.checkpoints.finish(n, known);
    this.resumedParts += 1;
    this.buffers.push(buffer);
    await this.progress(body.length);
    return true;
  }

  /** Sends part n in the background; once it lands, checkpoints it and reports progress. */
  private send(partNumber: number, body: Buffer, buffer: Buffer): void {
    const { s3, upload, checkpoints, signal } = this.run;
    const task: Promise<void> = sendPart(s3, upload, partNumber, body, signal)
      .then(async (etag) => {
        checkpoints.finish(partNumber, etag);
        this.sentParts += 1;
        await checkpoints.save().catch((err: unknown) => {
          throw new TransientError(
            'checkpoint_failed',
            `could not save the upload checkpoint after part ${partNumber}: ${String(err)}`,
            { bucket: upload.bucket, key: upload.key, uploadId: upload.uploadId },
            { cause: err },
          );
        });
        await this.progress(body.length);
      })
      .catch((err: unknown) => {
        this.failure ??= err;
      })
      .finally(() => {
        this.buffers.push(buffer);
        this.inFlight.delete(task);
      });
    this.inFlight.add(task);
  }

  private async progress(bytes: number): Promise<void> {
    this.bytesDone += bytes;
    // Progress is for people watching; failing to show it must not fail the upload.
    await Promise.resolve(this.run.onProgress?.(this.bytesDone, this.run.size)).catch(
      () => undefined,
    );
  }

  /** Throws what stopped the pass: an interruption when the signal stopped it. */
  private throwFailure(): void {
    if (this.failure === undefined) return;
    const { upload, plan, checkpoints, signal } = this.run;
    const { bucket, key, uploadId } = upload;
    if (signal?.aborted) {
      throw new TransientError(
        'upload_interrupted',
        `upload of ${bucket}/${key} stopped at part ${checkpoints.count}/${plan.partCount}; a retry continues it`,
        { bucket, key, uploadId },
        { cause: this.failure },
      );
    }
    throw classifyS3Error(this.failure, { bucket, key, operation: 'UploadPart' });
  }
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
