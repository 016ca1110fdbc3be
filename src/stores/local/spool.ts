import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PermanentError, StowageError, TransientError } from '../../errors/index.js';

/** Limits and expectations of one upload into the spool. */
export interface SpoolReceiveOptions {
  /** Most bytes accepted; one more stops the upload with `payload_too_large`. */
  maxBytes: number;
  /** The SHA-256 the sender declared (hex); a different digest is `checksum_mismatch`. */
  expectedSha256?: string;
  /** Aborting it (say, the client went away) stops the upload and removes the partial file. */
  signal?: AbortSignal;
  /** The size the sender announced (Content-Length): reserved against the quota up front. */
  declaredBytes?: number;
  /**
   * A stage the counted, hashed bytes pass through on their way to the file (the intake's
   * part upload); it passes them on unchanged and may hold them back (backpressure).
   */
  tap?: Transform;
}

/** How a spool is bounded. */
export interface SpoolOptions {
  /** SPOOL_MAX_BYTES: most bytes all spool files together may hold; 0 for no limit. */
  maxBytes?: number;
}

/** A file that arrived in full: its name inside the spool, size and SHA-256 (lower-case hex). */
export interface SpooledFile {
  file: string;
  size: number;
  sha256: string;
}

/** A spool file found by a sweep. */
export interface SpoolEntry {
  file: string;
  bytes: number;
  /** ISO 8601 of its last write. */
  modified: string;
}

/** What a sweep removed (dry: would remove) and how many files it kept. */
export interface SpoolSweep {
  removed: SpoolEntry[];
  removed_bytes: number;
  kept: number;
}

/** A received file not yet bound to a job: 128 random bits in hex. */
const UNBOUND_NAME = /^[0-9a-f]{32}$/;
/** A file bound to a job: `<tag>.<128 random bits>` (the artifact.upload payload accepts the same). */
const BOUND_NAME = /^[A-Za-z0-9_-]{1,100}\.[0-9a-f]{32}$/;
const PARTIAL_NAME = /^\.[0-9a-f]{32}\.part$/;
const TAG = /^[A-Za-z0-9_-]{1,100}$/;

/**
 * The directory the api streams uploads into and workers read them from. A file appears
 * under its final name only once complete, synced and checked, so a reader never sees a
 * partial upload; everything that fails on the way is removed before the error is thrown.
 * Files are 0600 and named by 128 random bits; the intake then binds each to its job.
 */
export class Spool {
  /** Bytes of this process's uploads in flight (the most of announced and received), by name. */
  private readonly inFlight = new Map<string, number>();
  /** Bytes on disk besides this process's uploads in flight, as of the last count. */
  private onDisk = 0;
  private readonly maxBytes: number;

  constructor(
    readonly dir: string,
    options: SpoolOptions = {},
  ) {
    if (!isAbsolute(dir)) throw new Error(`spool directory must be absolute, got "${dir}"`);
    this.maxBytes = options.maxBytes ?? 0;
  }

  /** Streams bytes into a new spool file, hashing and counting on the way (constant memory). */
  async receive(stream: Readable, options: SpoolReceiveOptions): Promise<SpooledFile> {
    // Until the pipeline listens, an error of the source (a reset socket) must not go unhandled;
    // the pipeline still sees it, as the state of an errored stream.
    const holdErrors = () => undefined;
    stream.on('error', holdErrors);
    try {
      // Every time, not once: a directory removed under a running api comes back.
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      return await this.write(stream, options);
    } finally {
      stream.off('error', holdErrors);
    }
  }

  private async write(stream: Readable, options: SpoolReceiveOptions): Promise<SpooledFile> {
    // 128 random bits: nobody can guess a spool file's name.
    const file = randomBytes(16).toString('hex');
    // A dot name is not a valid spool file name, so no job can ever point at a partial upload.
    const partial = join(this.dir, `.${file}.part`);
    let done = false;
    try {
      if (this.maxBytes > 0) {
        // Other processes' files (api replicas, workers removing what they uploaded) change
        // behind this one's back: counted again at every upload.
        this.onDisk = await this.bytesOnDisk();
        this.reserve(file, options.declaredBytes ?? 0);
      }
    } catch (err) {
      this.inFlight.delete(file);
      throw err;
    }
    const meter = new Meter(options.maxBytes, (received) => this.reserve(file, received));
    // 0600: the spool holds other people's artifacts; no other local user reads them.
    const out = createWriteStream(partial, { flags: 'wx', flush: true, mode: 0o600 });
    try {
      const signal = options.signal ? { signal: options.signal } : {};
      await (options.tap
        ? pipeline(stream, meter, options.tap, out, signal)
        : pipeline(stream, meter, out, signal));
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
      done = true;
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
    } finally {
      // A failed upload frees its reservation; a finished one now counts as a file on disk.
      if (this.inFlight.delete(file) && done) this.onDisk += meter.size;
    }
  }

  /**
   * Reserves `bytes` for an upload in flight (never less than it held); past SPOOL_MAX_BYTES
   * it throws `spool_quota_exceeded`, which stops the upload (507).
   */
  private reserve(file: string, bytes: number): void {
    if (this.maxBytes <= 0) return;
    const held = Math.max(this.inFlight.get(file) ?? 0, bytes);
    this.inFlight.set(file, held);
    let total = this.onDisk;
    for (const n of this.inFlight.values()) total += n;
    if (total > this.maxBytes) {
      throw new TransientError(
        'spool_quota_exceeded',
        `the spool is full: this upload would bring it to ${total} bytes, over SPOOL_MAX_BYTES (${this.maxBytes}); try again later`,
        { maxBytes: this.maxBytes, wanted: total },
      );
    }
  }

  /** Bytes of every file in the spool except the partial files of this process's uploads. */
  private async bytesOnDisk(): Promise<number> {
    let total = 0;
    for (const entry of await this.entries()) {
      if (PARTIAL_NAME.test(entry.file) && this.inFlight.has(entry.file.slice(1, 33))) continue;
      total += entry.bytes;
    }
    return total;
  }

  /** Every regular file in the spool with its size and last write; vanished ones are skipped. */
  private async entries(): Promise<SpoolEntry[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return [];
      throw err;
    }
    const entries: SpoolEntry[] = [];
    for (const name of names) {
      try {
        const info = await stat(join(this.dir, name));
        if (info.isFile()) {
          entries.push({ file: name, bytes: info.size, modified: info.mtime.toISOString() });
        }
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw err;
      }
    }
    return entries;
  }

  /**
   * Binds a received file to the job that will upload it: renames it to `<tag>.<name>`, the
   * only form a job payload accepts. Returns the new name.
   */
  async bind(file: string, tag: string): Promise<string> {
    if (!UNBOUND_NAME.test(file) || !TAG.test(tag)) {
      throw new PermanentError('invalid_spool_file', 'not an unbound spool file or a job tag');
    }
    const bound = `${tag}.${file}`;
    await rename(join(this.dir, file), join(this.dir, bound));
    await this.syncDir();
    return bound;
  }

  /** Whether a bound spool file belongs to the job with this tag. */
  static isBoundTo(file: string, tag: string): boolean {
    return BOUND_NAME.test(file) && file.startsWith(`${tag}.`);
  }

  /**
   * Removes spool files last written before `before` that no job references: partial
   * uploads an api crash left, received files never bound, and bound files that
   * `referenced` disowns. Returns what it removed (dry: would remove); unknown names stay.
   */
  async sweep(options: {
    before: Date;
    referenced: (file: string) => Promise<boolean>;
    dryRun: boolean;
  }): Promise<SpoolSweep> {
    const result: SpoolSweep = { removed: [], removed_bytes: 0, kept: 0 };
    for (const entry of await this.entries()) {
      const bound = BOUND_NAME.test(entry.file);
      const ours = bound || PARTIAL_NAME.test(entry.file) || UNBOUND_NAME.test(entry.file);
      const orphan =
        ours &&
        new Date(entry.modified) < options.before &&
        !(bound && (await options.referenced(entry.file)));
      if (!orphan) {
        result.kept += 1;
        continue;
      }
      if (!options.dryRun) await rm(join(this.dir, entry.file), { force: true });
      result.removed.push(entry);
      result.removed_bytes += entry.bytes;
    }
    return result;
  }

  /** The absolute path of a spool file; refuses anything that is not a plain spool file name. */
  path(file: string): string {
    if (!BOUND_NAME.test(file) && !UNBOUND_NAME.test(file)) {
      throw new PermanentError('invalid_spool_file', 'not a spool file name');
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

  constructor(
    private readonly maxBytes: number,
    /** Told the running total before a chunk goes on; throws to stop the upload. */
    private readonly onBytes: (total: number) => void,
  ) {
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
    try {
      this.onBytes(this.size);
    } catch (err) {
      done(err as Error);
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
