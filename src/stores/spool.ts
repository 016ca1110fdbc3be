import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PermanentError, StowageError, TransientError } from '../errors/index.js';

/** Limits and expectations of one upload into the spool. */
export interface SpoolReceiveOptions {
  /** Most bytes accepted; one more stops the upload with `payload_too_large`. */
  maxBytes: number;
  /** The SHA-256 the sender declared (hex); a different digest is `checksum_mismatch`. */
  expectedSha256?: string;
  /** Aborting it (say, the client went away) stops the upload and removes the partial file. */
  signal?: AbortSignal;
}

/** A file that arrived in full: its name inside the spool, size and SHA-256 (lower-case hex). */
export interface SpooledFile {
  file: string;
  size: number;
  sha256: string;
}

/** What a spool file name looks like (the artifact.upload payload accepts the same). */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

/**
 * The directory the api streams uploads into and workers read them from. A file appears
 * under its final name only once complete, synced and checked, so a reader never sees a
 * partial upload; everything that fails on the way is removed before the error is thrown.
 */
export class Spool {
  constructor(readonly dir: string) {
    if (!isAbsolute(dir)) throw new Error(`spool directory must be absolute, got "${dir}"`);
  }

  /** Streams bytes into a new spool file, hashing and counting on the way (constant memory). */
  async receive(stream: Readable, options: SpoolReceiveOptions): Promise<SpooledFile> {
    // Until the pipeline listens, an error of the source (a reset socket) must not go unhandled;
    // the pipeline still sees it, as the state of an errored stream.
    const holdErrors = () => undefined;
    stream.on('error', holdErrors);
    try {
      // Every time, not once: a directory removed under a running api comes back.
      await mkdir(this.dir, { recursive: true });
      return await this.write(stream, options);
    } finally {
      stream.off('error', holdErrors);
    }
  }

  private async write(stream: Readable, options: SpoolReceiveOptions): Promise<SpooledFile> {
    const file = randomUUID();
    // A dot name is not a valid spool file name, so no job can ever point at a partial upload.
    const partial = join(this.dir, `.${file}.part`);
    const meter = new Meter(options.maxBytes);
    const out = createWriteStream(partial, { flags: 'wx', flush: true });
    try {
      await pipeline(stream, meter, out, options.signal ? { signal: options.signal } : {});
      const sha256 = meter.digest();
      const expected = options.expectedSha256?.toLowerCase();
      if (expected !== undefined && expected !== sha256) {
        throw new PermanentError(
          'checksum_mismatch',
          `the SHA-256 of the received bytes is ${sha256}, not the declared ${expected}`,
          { expected, actual: sha256, size: meter.size },
        );
      }
      await rename(partial, join(this.dir, file));
      await this.syncDir();
      return { file, size: meter.size, sha256 };
    } catch (err) {
      // The file may still be opening when a source that already failed rejects the
      // pipeline: wait for the stream to close, or rm runs first and the file appears after.
      if (!out.closed) {
        const closed = new Promise<void>((resolve) => out.once('close', () => resolve()));
        out.destroy();
        await closed;
      }
      await rm(partial, { force: true });
      throw spoolError(err, meter.size);
    }
  }

  /** The absolute path of a spool file; refuses anything that is not a plain spool file name. */
  path(file: string): string {
    if (!FILE_NAME.test(file)) {
      throw new PermanentError('invalid_spool_file', `"${file}" is not a spool file name`, {
        file,
      });
    }
    return join(this.dir, file);
  }

  /** Removes a spool file; a file already gone is fine (a retried job may remove it twice). */
  async remove(file: string): Promise<void> {
    await rm(this.path(file), { force: true });
  }

  /** Whether a spool file exists. */
  async exists(file: string): Promise<boolean> {
    try {
      return (await stat(this.path(file))).isFile();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /** Makes the rename durable: the api answers 202 only for a file a crash cannot take back. */
  private async syncDir(): Promise<void> {
    const handle = await open(this.dir, 'r');
    try {
      await handle.sync();
    } catch (err) {
      // Some file systems (and network mounts) cannot fsync a directory; the file itself is synced.
      if (!['EINVAL', 'ENOTSUP', 'EISDIR', 'EBADF'].includes(String(errnoOf(err)))) throw err;
    } finally {
      await handle.close();
    }
  }
}

/** Counts and hashes the bytes going through; fails past the limit so the upload stops. */
class Meter extends Transform {
  size = 0;
  private readonly hash = createHash('sha256');

  constructor(private readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      done(
        new PermanentError(
          'payload_too_large',
          `the upload is larger than the limit of ${this.maxBytes} bytes`,
          { maxBytes: this.maxBytes },
        ),
      );
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Our own errors pass; a full disk is worth retrying; a vanished sender is said plainly. */
function spoolError(err: unknown, received: number): unknown {
  if (err instanceof StowageError) return err;
  const code = errnoOf(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new TransientError(
      'spool_full',
      'the spool directory is out of space',
      { received },
      {
        cause: err,
      },
    );
  }
  if (
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    code === 'ECONNRESET' ||
    code === 'ABORT_ERR' ||
    (err as Error | undefined)?.name === 'AbortError'
  ) {
    return new TransientError(
      'upload_aborted',
      'the upload stopped before its end (the sender went away)',
      { received },
      { cause: err },
    );
  }
  return err;
}
