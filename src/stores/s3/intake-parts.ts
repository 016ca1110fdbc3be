// The api's side of an upload that starts while the request is still arriving: the body
// passes through a Transform on its way to the spool file, is cut into parts there and the
// parts are sent to S3 as they fill. The spool file stays the durable copy; the worker
// completes the upload when every part landed and uploads from the spool file otherwise.
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  abortQuietly,
  createMultipartUpload,
  type MultipartUploadRef,
} from './multipart-upload.js';
import { planParts, type PartPlan } from './part-upload.js';
import type { FinishedPart } from './upload-checkpoint.js';

/** What the intake hands the job: the upload that holds every part of the artifact. */
export interface IntakeParts {
  uploadId: string;
  partSize: number;
  /** partsDigest of the parts S3 answered for: the worker completes only these. */
  partsSha256: string;
}

/** Why an intake stopped sending parts (the worker then uploads from the spool file). */
export type GiveUpReason = { error: unknown };

/**
 * SHA-256 over the part numbers and ETags of an upload, in part order: a short fingerprint
 * of exactly which bytes S3 holds, so that a job carries one digest, not a part list.
 */
export function partsDigest(parts: readonly FinishedPart[]): string {
  const hash = createHash('sha256');
  for (const p of parts) hash.update(`${p.PartNumber}:${p.ETag.replaceAll('"', '')}\n`);
  return hash.digest('hex');
}

/** What sending an artifact's parts during its request needs. */
export interface IntakePartsOptions extends Omit<MultipartUploadRef, 'uploadId'> {
  s3: S3Client;
  /** The declared size (Content-Length): the parts are planned from it. */
  size: number;
  partSize: number;
  /** Parts in flight (and in memory) at once; the body waits for a free slot. */
  queueSize: number;
  contentType: string;
  /** The object's metadata, exactly as the worker would create the upload with it. */
  metadata: Record<string, string>;
  /** Told once when S3 fails and the intake stops sending parts. */
  onGiveUp?: (reason: GiveUpReason) => void;
}

/**
 * Sends the parts of a body as they arrive. `tap` passes every byte on unchanged; an S3
 * failure never fails the body (the parts are given up, the upload aborted, and the spool
 * file alone carries the artifact). `finish` answers the upload once every planned part
 * landed; `abort` removes it (a refused or failed request leaves no multipart upload).
 */
export class IntakePartsUpload {
  /** Put between the digest and the spool file: the bytes pass on unchanged. */
  readonly tap: Transform;
  private readonly plan: PartPlan;
  private readonly buffers: Buffer[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly finished = new Map<number, string>();
  private upload: Promise<MultipartUploadRef> | undefined;
  private current: Buffer | undefined;
  private filled = 0;
  private nextPart = 1;
  private failure: GiveUpReason | undefined;
  private settled = false;

  constructor(private readonly options: IntakePartsOptions) {
    this.plan = planParts(options.size, options.partSize);
    this.tap = new Transform({
      transform: (chunk: Buffer, _encoding, done: TransformCallback) => {
        this.take(chunk).then(
          () => done(null, chunk),
          // take never throws for S3's sake; anything else is a bug worth failing the body for.
          (err: unknown) => done(err as Error),
        );
      },
      flush: (done: TransformCallback) => {
        this.flushLast().then(
          () => done(),
          (err: unknown) => done(err as Error),
        );
      },
    });
  }

  /** The upload with every planned part, or undefined (the upload is then aborted). */
  async finish(): Promise<IntakeParts | undefined> {
    await this.drain();
    const upload = await this.uploadRef();
    if (
      this.failure === undefined &&
      upload !== undefined &&
      this.finished.size === this.plan.partCount &&
      this.nextPart === this.plan.partCount + 1
    ) {
      this.settled = true;
      return {
        uploadId: upload.uploadId,
        partSize: this.plan.partSize,
        partsSha256: partsDigest(this.parts()),
      };
    }
    await this.abort();
    return undefined;
  }

  /** Aborts the upload once no part is in flight; nothing is left behind. */
  async abort(): Promise<void> {
    this.failure ??= { error: new Error('aborted') };
    this.settled = true;
    await this.drain();
    const upload = await this.uploadRef();
    if (upload) await abortQuietly(this.options.s3, upload);
  }

  /** The parts S3 holds, in order. */
  private parts(): FinishedPart[] {
    return [...this.finished]
      .sort(([a], [b]) => a - b)
      .map(([PartNumber, ETag]) => ({ PartNumber, ETag }));
  }

  private async uploadRef(): Promise<MultipartUploadRef | undefined> {
    return this.upload?.catch(() => undefined);
  }

  private async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
  }

  /** Copies a chunk into part buffers, sending each one that fills. */
  private async take(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length && this.failure === undefined) {
      if (this.current === undefined) {
        // A slot first, then a buffer: never more than queueSize parts in memory.
        while (this.inFlight.size >= Math.max(1, this.options.queueSize)) {
          await Promise.race(this.inFlight);
        }
        if (this.failure !== undefined) return;
        this.current = this.buffers.pop() ?? Buffer.allocUnsafe(this.plan.partSize);
        this.filled = 0;
      }
      const want = this.plan.partLength(this.nextPart) - this.filled;
      if (want <= 0) {
        // More bytes than declared: the body fails on its own (its length is checked); stop here.
        this.giveUp(new Error('the body is longer than its declared size'));
        return;
      }
      const n = Math.min(want, chunk.length - offset);
      chunk.copy(this.current, this.filled, offset, offset + n);
      this.filled += n;
      offset += n;
      if (this.filled === this.plan.partLength(this.nextPart)) this.sendCurrent();
    }
  }

  private async flushLast(): Promise<void> {
    if (this.failure === undefined && this.current !== undefined && this.filled > 0) {
      this.giveUp(new Error('the body is shorter than its declared size'));
    }
    await this.drain();
  }

  private sendCurrent(): void {
    const buffer = this.current!;
    const partNumber = this.nextPart;
    const body = buffer.subarray(0, this.filled);
    this.current = undefined;
    this.filled = 0;
    this.nextPart += 1;
    this.upload ??= this.create();
    const task: Promise<void> = this.upload
      .then(async (upload) => {
        if (this.settled) return;
        const out = await this.options.s3.send(
          new UploadPartCommand({
            Bucket: upload.bucket,
            Key: upload.key,
            UploadId: upload.uploadId,
            PartNumber: partNumber,
            Body: body,
            ContentLength: body.length,
          }),
        );
        if (!out.ETag) throw new Error(`UploadPart ${partNumber} answered without an ETag`);
        this.finished.set(partNumber, out.ETag);
      })
      .catch((err: unknown) => this.giveUp(err))
      .finally(() => {
        this.buffers.push(buffer);
        this.inFlight.delete(task);
      });
    this.inFlight.add(task);
  }

  private async create(): Promise<MultipartUploadRef> {
    const { s3, bucket, key, contentType, metadata } = this.options;
    const uploadId = await createMultipartUpload(s3, { bucket, key }, { contentType, metadata });
    return { bucket, key, uploadId };
  }

  private giveUp(error: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = { error };
    // The buffers are not needed any more: the body goes on to the spool file alone.
    this.buffers.length = 0;
    this.current = undefined;
    this.options.onGiveUp?.(this.failure);
  }
}
