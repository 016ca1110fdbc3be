import { PassThrough, type Readable, type Transform } from 'node:stream';
import busboy from 'busboy';
import type { Request, RequestHandler } from 'express';
import { StowageError, TransientError } from '../errors/index.js';
import type { Spool, SpooledFile } from '../stores/local/spool.js';
import { HttpProblem } from '../http/problem.js';

/** Limits of one upload body. */
export interface UploadLimits {
  /** Most bytes of the artifact itself. */
  maxBytes: number;
  /** The declared SHA-256 (hex), checked against the bytes received. */
  expectedSha256?: string;
  /** Aborted when the client goes away mid-upload. */
  signal: AbortSignal;
  /** The announced size of the artifact, reserved against the spool quota up front. */
  declaredBytes?: number;
  /** A stage the bytes pass through on their way to the spool file (the intake's parts). */
  tap?: Transform;
}

/** The file part of a multipart body, as the client described it. */
export interface FilePartInfo {
  /** The part's filename parameter, exactly as sent (paths are not stripped). */
  filename: string | undefined;
  mimeType: string;
}

/**
 * Largest multipart framing besides the file: the text fields (bounded below) and part
 * headers. A Content-Length above maxBytes plus this cannot hold an acceptable file.
 */
export const MULTIPART_OVERHEAD_BYTES = 128 * 1024;

// Fields carry ids, a filename and metadata (values ≤ 1 KiB): small and few.
const FIELD_LIMITS = { fields: 32, fieldSize: 2048, fieldNameSize: 100, headerPairs: 20 };

/** Most parts of a multipart body: every text field and the one file. */
export const MAX_MULTIPART_PARTS = FIELD_LIMITS.fields + 1;

/** How much of a refused body is still read and dropped, at most. */
export interface LingerLimits {
  ms: number;
  bytes: number;
}

/**
 * For upload routes: when the answer goes out before the body ended (a refusal: 401/403,
 * 400, 413), what the client still sends is read and dropped for a short while, then the
 * connection is cut. Closing at once, with unread bytes, makes the kernel send a reset
 * that can destroy the answer before the client reads it; reading on without a bound
 * (Node's default) lets one client keep a connection busy with an endless body.
 */
export function lingerAfterEarlyAnswer(
  limits: LingerLimits = { ms: 2_000, bytes: 8 * 1024 * 1024 },
): RequestHandler {
  return (req, res, next) => {
    res.once('finish', () => {
      if (req.complete || req.destroyed) return;
      let dropped = 0;
      const cut = () => {
        clearTimeout(timer);
        req.socket.destroy();
      };
      const timer = setTimeout(cut, limits.ms);
      timer.unref();
      req.on('data', (chunk: Buffer) => {
        dropped += chunk.length;
        if (dropped > limits.bytes) cut();
      });
      // A body that ends in time leaves the connection usable for the next request.
      req.once('end', () => clearTimeout(timer));
      req.once('close', () => clearTimeout(timer));
      req.resume();
    });
    next();
  };
}

/** Whether the request carries multipart/form-data (everything else is the raw artifact). */
export function isMultipart(req: Request): boolean {
  return req.is('multipart/form-data') === 'multipart/form-data';
}

/**
 * Streams a raw body into the spool. The body goes through a pass-through so that a refused
 * upload (too large, say) stops reading without tearing down the socket its answer needs.
 */
export async function receiveRawBody(
  req: Request,
  spool: Spool,
  limits: UploadLimits,
): Promise<SpooledFile> {
  const body = new PassThrough();
  const onError = (err: Error) => body.destroy(err);
  req.on('error', onError);
  req.pipe(body);
  try {
    return await spool.receive(body, receiveOptions(limits));
  } finally {
    req.off('error', onError);
    req.unpipe(body);
  }
}

/**
 * Reads a multipart/form-data body: text fields first (collected), then exactly one file
 * part streamed into the spool. `prepare` sees the fields and the file part's description
 * before any file byte is read, and throws to refuse the upload. A field after the file
 * part, a second file, or no file at all is a 400; whatever was spooled is then removed.
 */
export async function receiveMultipartBody<T>(
  req: Request,
  spool: Spool,
  limits: UploadLimits,
  prepare: (fields: Readonly<Record<string, string>>, file: FilePartInfo) => T,
): Promise<{ prepared: T; spooled: SpooledFile }> {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: req.headers,
      // Paths stay in the filename so that `../x` is refused instead of quietly becoming `x`.
      preservePath: true,
      defParamCharset: 'utf8',
      // busboy signals `partsLimit` on reaching the count, which a valid form may do: one
      // more than a valid form can hold. Parts without a name count too (busboy skips them).
      limits: { ...FIELD_LIMITS, files: 1, parts: MAX_MULTIPART_PARTS + 1 },
    });
  } catch (err) {
    throw badForm(err instanceof Error ? err.message : String(err), 'Content-Type');
  }

  const fields: Record<string, string> = {};
  let file: FilePartInfo | undefined;
  let prepared: T | undefined;
  let upload: Promise<SpooledFile> | undefined;
  let failure: { error: unknown } | undefined;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));

  const fail = (error: unknown) => {
    if (failure) return;
    failure = { error };
    // Stop reading; destroying the parser also destroys a file stream being spooled.
    req.off('data', countBody);
    req.unpipe(parser);
    parser.destroy();
    finish();
  };
  const onAbort = () =>
    fail(new TransientError('upload_aborted', 'the client went away before the upload ended'));

  parser.on('field', (name, value, info) => {
    if (file) fail(badForm('text fields must come before the file part', name));
    else if (info.nameTruncated || info.valueTruncated)
      fail(badForm(`at most ${FIELD_LIMITS.fieldSize} bytes`, name));
    else if (Object.hasOwn(fields, name)) fail(badForm('given more than once', name));
    else fields[name] = value;
  });
  parser.on('file', (_name, stream: Readable, info) => {
    // A part that is not spooled is discarded; stopping the parser then errors it, harmlessly.
    const discard = (err: unknown) => {
      stream.on('error', () => undefined).resume();
      fail(err);
    };
    if (file || failure) {
      discard(badForm('exactly one file part', 'file'));
      return;
    }
    file = { filename: info.filename, mimeType: info.mimeType };
    try {
      prepared = prepare(fields, file);
    } catch (err) {
      discard(err);
      return;
    }
    upload = spool.receive(stream, receiveOptions(limits));
    upload.catch(fail);
  });
  parser.on('filesLimit', () => fail(badForm('exactly one file part', 'file')));
  parser.on('fieldsLimit', () =>
    fail(badForm(`at most ${FIELD_LIMITS.fields} text fields`, '(body)')),
  );
  parser.on('partsLimit', () =>
    fail(tooLarge(`more than ${MAX_MULTIPART_PARTS} parts (text fields and the file)`, 'parts')),
  );
  // The file is bounded by the spool and the fields by busboy, but not what lies around
  // them (a preamble, skipped parts, an epilogue): the whole body is, even when chunked.
  const maxBodyBytes = limits.maxBytes + MULTIPART_OVERHEAD_BYTES;
  let bodyBytes = 0;
  const countBody = (chunk: Buffer) => {
    bodyBytes += chunk.length;
    if (bodyBytes > maxBodyBytes) {
      req.off('data', countBody);
      fail(
        tooLarge(
          `more than ${maxBodyBytes} bytes (ARTIFACT_MAX_BYTES plus ${MULTIPART_OVERHEAD_BYTES} of form)`,
          'size',
        ),
      );
    }
  };
  req.on('data', countBody);
  parser.on('error', (err: Error) => fail(badForm(`malformed multipart body: ${err.message}`)));
  parser.on('close', finish);
  limits.signal.addEventListener('abort', onAbort, { once: true });
  req.pipe(parser);

  try {
    await finished;
    // Settles once the spool has renamed (or removed) its file, so nothing is left behind.
    const spooled = await upload?.catch((err: unknown) => {
      fail(err);
      return undefined;
    });
    if (!failure && (!spooled || prepared === undefined)) {
      fail(badForm('a file part is required', 'file'));
    }
    if (failure || !spooled) {
      if (spooled) await spool.remove(spooled.file);
      throw failure?.error;
    }
    return { prepared: prepared as T, spooled };
  } finally {
    req.off('data', countBody);
    limits.signal.removeEventListener('abort', onAbort);
  }
}

function receiveOptions(limits: UploadLimits) {
  return {
    maxBytes: limits.maxBytes,
    signal: limits.signal,
    ...(limits.expectedSha256 === undefined ? {} : { expectedSha256: limits.expectedSha256 }),
    ...(limits.declaredBytes === undefined ? {} : { declaredBytes: limits.declaredBytes }),
    ...(limits.tap === undefined ? {} : { tap: limits.tap }),
  };
}

/** A 413 naming the multipart limit that was passed (`parts` or `size`). */
function tooLarge(message: string, limit: 'parts' | 'size'): HttpProblem {
  return new HttpProblem(413, 'payload_too_large', `multipart body: ${message}`, [
    { path: '(body)', message: `limit ${limit}: ${message}` },
  ]);
}

function badForm(message: string, path = '(body)'): HttpProblem {
  return new HttpProblem(400, 'invalid_payload', `invalid multipart body: ${path}: ${message}`, [
    { path, message },
  ]);
}

/** True for the error a spool raises when the sender went away (no one to answer). */
export function isAbortedUpload(err: unknown): boolean {
  return err instanceof StowageError && err.code === 'upload_aborted';
}
