import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { PermanentError } from '../../errors/index.js';

/** What a DigestStream enforces on the bytes passing through. */
export interface DigestStreamOptions {
  /** More bytes than this fail the stream (storage_quota_exceeded). */
  maxBytes: number;
  /** When set, a different byte count at the end fails the stream (size_mismatch). */
  expectedSize?: number | undefined;
  /** When set (lower-case hex), a different SHA-256 at the end fails the stream (checksum_mismatch). */
  expectedSha256?: string | undefined;
  /** Called with the running byte count about every `progressEvery` bytes, and at the end. */
  onProgress?: ((bytes: number) => void) | undefined;
  progressEvery?: number;
}

/**
 * Passes bytes through unchanged while counting them and computing their SHA-256. It fails
 * (destroying itself with a PermanentError) as soon as the count passes the limit, and at
 * the end when the size or digest differs from the declared ones — before it ends, so a
 * consumer such as lib-storage's Upload never completes an upload of wrong bytes.
 */
export class DigestStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private count = 0;
  private lastReported = 0;
  private digest: string | undefined;

  constructor(private readonly options: DigestStreamOptions) {
    super();
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.count;
  }

  /** The SHA-256 (lower-case hex) once the stream has ended, else undefined. */
  get sha256(): string | undefined {
    return this.digest;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.count += chunk.length;
    if (this.count > this.options.maxBytes) {
      callback(
        new PermanentError(
          'storage_quota_exceeded',
          `the artifact is larger than the limit of ${this.options.maxBytes} bytes`,
          { maxBytes: this.options.maxBytes },
        ),
      );
      return;
    }
    this.hash.update(chunk);
    const every = this.options.progressEvery ?? 8 * 1024 * 1024;
    if (this.count - this.lastReported >= every) {
      this.lastReported = this.count;
      this.options.onProgress?.(this.count);
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const digest = this.hash.digest('hex');
    const { expectedSize, expectedSha256 } = this.options;
    if (expectedSize !== undefined && this.count !== expectedSize) {
      callback(
        new PermanentError(
          'size_mismatch',
          `the source gave ${this.count} bytes, ${expectedSize} were declared`,
          { declared: expectedSize, actual: this.count },
        ),
      );
      return;
    }
    if (expectedSha256 !== undefined && digest !== expectedSha256) {
      callback(
        new PermanentError(
          'checksum_mismatch',
          `SHA-256 of the source is ${digest}, ${expectedSha256} was declared`,
          { declared: expectedSha256, actual: digest },
        ),
      );
      return;
    }
    this.digest = digest;
    this.options.onProgress?.(this.count);
    callback();
  }
}
