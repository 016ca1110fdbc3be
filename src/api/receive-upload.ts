import type { Request } from 'express';
import type { ArtifactKind } from '../domain/artifact.js';
import { StowageError } from '../errors/index.js';
import { HttpProblem } from '../http/problem.js';
import type { SpooledFile } from '../stores/local/spool.js';
import type { ArtifactReader } from '../stores/s3/artifact-store.js';
import type { IntakeParts, IntakePartsUpload } from '../stores/s3/intake-parts.js';
import {
  prepareUpload,
  refuseTaken,
  type PreparedUpload,
} from '../../queues/use-cases/intake-artifact.js';
import type { ArtifactRouteOptions } from './route-deps.js';
import {
  MULTIPART_OVERHEAD_BYTES,
  isMultipart,
  receiveMultipartBody,
  receiveRawBody,
  type FilePartInfo,
} from './upload-body.js';

/** The header carrying the sender's SHA-256 of the artifact. */
export const DIGEST_HEADER = 'X-Content-SHA256';
const META_HEADER = 'x-artifact-meta-';
const META_FIELD = 'meta.';

function prepareRaw(kind: ArtifactKind, req: Request): PreparedUpload {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.startsWith(META_HEADER) && typeof value === 'string') {
      metadata[name.slice(META_HEADER.length)] = value;
    }
  }
  return prepareUpload(
    { ...(req.query as Record<string, unknown>), kind },
    req.headers['content-type'] ?? 'application/octet-stream',
    metadata,
    { contentType: 'Content-Type', metadata: (name) => `X-Artifact-Meta-${name}` },
  );
}

function prepareMultipart(
  kind: ArtifactKind,
  fields: Readonly<Record<string, string>>,
  file: FilePartInfo,
): PreparedUpload {
  const metadata: Record<string, string> = {};
  const ids: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) {
    if (name.startsWith(META_FIELD)) metadata[name.slice(META_FIELD.length)] = value;
    else ids[name] = value;
  }
  // The file part's own name is the fallback for kinds keyed by a filename (a TA bundle's
  // key has none), checked as strictly as a `filename` field.
  if (kind !== 'ta-bundle' && ids.filename === undefined && file.filename !== undefined)
    ids.filename = file.filename;
  return prepareUpload({ ...ids, kind }, file.mimeType, metadata, {
    contentType: 'file',
    metadata: (name) => `${META_FIELD}${name}`,
  });
}

/** An upload in the spool, and the parts of it sent to S3 on the way (if any). */
export interface ReceivedUpload {
  prepared: PreparedUpload;
  spooled: SpooledFile;
  /** Every part of the artifact, sent while it arrived, for job `jobId`; `abort` removes them. */
  parts?: { parts: IntakeParts; jobId: string; abort: () => Promise<void> };
}

/**
 * Starts sending the parts of a raw body whose size and digest were declared, for the job
 * it names, or answers undefined (the body then goes to the spool alone).
 */
export type StartParts = (
  prepared: PreparedUpload,
  declared: { size: number; sha256: string },
) => { upload: IntakePartsUpload; jobId: string } | undefined;

/**
 * Streams the upload into the spool: the raw body (ids in the query string) or multipart
 * form data. Everything the headers tell (digest, length, ids, metadata) is checked before
 * the first byte is read; a declared digest under a taken key is a 409 before the body. A
 * raw body of declared size and digest is also sent to S3 part by part as it arrives
 * (`startParts`); a refused or failed upload leaves no part behind.
 */
export async function receiveUpload(
  req: Request,
  kind: ArtifactKind,
  { expectedSha256, writeOnce }: { expectedSha256: string | undefined; writeOnce: boolean },
  options: Pick<ArtifactRouteOptions, 'spool' | 'maxBytes'>,
  store: () => ArtifactReader,
  startParts?: StartParts,
): Promise<ReceivedUpload> {
  const multipart = isMultipart(req);
  refuseLongerThan(req, options.maxBytes + (multipart ? MULTIPART_OVERHEAD_BYTES : 0));
  const declared = Number(req.headers['content-length']);
  const limits = {
    maxBytes: options.maxBytes,
    signal: abortOnDisconnect(req),
    ...(expectedSha256 === undefined ? {} : { expectedSha256 }),
    // Reserved against the spool quota before a byte is read (a raw body is the artifact).
    ...(!multipart && Number.isSafeInteger(declared) ? { declaredBytes: declared } : {}),
  };
  // Write-once: a different declared digest under a taken key is refused before the body.
  if (!multipart && writeOnce && expectedSha256 !== undefined) {
    await refuseTaken(store(), prepareRaw(kind, req).target, expectedSha256);
  }

  let parts: { upload: IntakePartsUpload; jobId: string } | undefined;
  try {
    if (multipart) {
      return await receiveMultipartBody(req, options.spool, limits, (fields, file) =>
        prepareMultipart(kind, fields, file),
      );
    }
    // Everything is checked before the first byte of the body is read.
    const prepared = prepareRaw(kind, req);
    if (expectedSha256 !== undefined && Number.isSafeInteger(declared) && declared > 0) {
      parts = startParts?.(prepared, { size: declared, sha256: expectedSha256 });
    }
    const spooled = await receiveRawBody(req, options.spool, {
      ...limits,
      ...(parts ? { tap: parts.upload.tap } : {}),
    });
    const sent = await parts?.upload.finish();
    const started = parts;
    return {
      prepared,
      spooled,
      ...(sent && started
        ? { parts: { parts: sent, jobId: started.jobId, abort: () => started.upload.abort() } }
        : {}),
    };
  } catch (err) {
    await parts?.upload.abort();
    throw uploadProblem(err);
  }
}

/** A declared length over the limit is refused before a byte is read. */
function refuseLongerThan(req: Request, limit: number): void {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    throw new HttpProblem(
      413,
      'payload_too_large',
      `the upload declares ${declared} bytes; the limit is ${limit}`,
      [{ path: 'Content-Length', message: `at most ${limit} bytes` }],
    );
  }
}

/** Aborted when the client closes the connection before its body ended. */
function abortOnDisconnect(req: Request): AbortSignal {
  const controller = new AbortController();
  req.once('close', () => {
    if (!req.complete) controller.abort();
  });
  return controller.signal;
}

/** The spool's errors as problems that name the field they are about. */
function uploadProblem(err: unknown): unknown {
  if (!(err instanceof StowageError)) return err;
  switch (err.code) {
    case 'checksum_mismatch':
      return new HttpProblem(400, 'checksum_mismatch', err.message, [
        { path: DIGEST_HEADER, message: 'does not match the SHA-256 of the bytes received' },
      ]);
    case 'payload_too_large':
      return new HttpProblem(413, 'payload_too_large', err.message, [
        { path: '(body)', message: err.message },
      ]);
    case 'spool_quota_exceeded':
      return new HttpProblem(507, 'insufficient_storage', err.message, [
        { path: '(body)', message: 'the spool has no room for this upload now' },
      ]);
    default:
      return err;
  }
}
