import { Router, type Request } from 'express';
import { z } from 'zod';
import {
  ARTIFACT_KINDS,
  artifactIdSchema,
  sha256Schema,
  type ArtifactKind,
} from '../../domain/artifact.js';
import { StowageError, ValidationError } from '../../errors/index.js';
import type { ArtifactReader } from '../../stores/s3/artifact-store.js';
import type { Spool, SpooledFile } from '../../stores/local/spool.js';
import type { AnyJobDefinition } from '../../../jobs/job-definition.js';
import type { Producer } from '../../../queues/producer.js';
import type { QueueSet } from '../../../queues/queue-set.js';
import {
  OVERWRITE_HEADER,
  intakeArtifact,
  prepareUpload,
  refuseTaken,
  type PreparedUpload,
} from '../../../queues/use-cases/intake-artifact.js';
import { presignArtifact } from '../../../queues/use-cases/presign-artifact.js';
import { hasScope, requireScope, type Caller } from '../../http/auth.js';
import { JSON_TYPES, jsonBody } from '../json-body.js';
import { HttpProblem } from '../../http/problem.js';
import {
  MULTIPART_OVERHEAD_BYTES,
  isMultipart,
  lingerAfterEarlyAnswer,
  receiveMultipartBody,
  receiveRawBody,
  type FilePartInfo,
} from '../upload-body.js';
import {
  answerIdempotently,
  sendIdempotentResult,
  type IdempotentResult,
} from '../idempotent-request.js';
import type { RedisIdempotencyStore } from '../../stores/redis/idempotency-store.js';
import { readIdempotencyKey } from './jobs.js';

export { OVERWRITE_HEADER } from '../../../queues/use-cases/intake-artifact.js';
export { presignBodySchema } from '../../../queues/use-cases/presign-artifact.js';

/** Limits and the spool of the artifact routes. */
export interface ArtifactRouteOptions {
  spool: Spool;
  /** ARTIFACT_MAX_BYTES: larger uploads are a 413. */
  maxBytes: number;
  presignDefaultSeconds: number;
  presignMaxSeconds: number;
  /** The bucket of a kind (ARTIFACT_BUCKET_*), shown in the upload answer. */
  bucketFor: (kind: ArtifactKind) => string;
  /** Idempotency-Key records (see answerIdempotently). */
  idempotency: RedisIdempotencyStore;
}

/** The header carrying the sender's SHA-256 of the artifact. */
export const DIGEST_HEADER = 'X-Content-SHA256';
const META_HEADER = 'x-artifact-meta-';
const META_FIELD = 'meta.';

/**
 * Artifact upload (streamed into the spool, then an artifact.upload job), listing,
 * presigned download URLs and bucket statistics:
 *
 * - `POST /v1/artifacts/{kind}` (artifacts): the body is the artifact (its Content-Type is
 *   kept) with the ids in the query string, or multipart/form-data whose text fields (ids,
 *   `meta.<name>`) come BEFORE its one file part. `X-Content-SHA256` is checked;
 *   `X-Artifact-Meta-<name>` headers become object metadata. 202 with the job.
 * - `GET /v1/artifacts/stats` (read): objects, bytes, oldest and newest per kind.
 * - `GET /v1/artifacts/{kind}/{id}` (read): the artifacts of one request (or validation run).
 * - `POST /v1/artifacts/{kind}/presign` (read) `{key, expires_in?}`: a download URL.
 *
 * Mounted before the JSON body parser: an upload body is never buffered.
 */
export function artifactRoutes(
  producer: Producer<readonly AnyJobDefinition[]>,
  queues: QueueSet,
  store: () => ArtifactReader,
  options: ArtifactRouteOptions,
): Router {
  const router = Router();

  router.post(
    '/v1/artifacts/:kind',
    lingerAfterEarlyAnswer(),
    requireScope('artifacts'),
    async (req, res) => {
      const kind = kindParam(req.params.kind);
      const idempotencyKey = readIdempotencyKey(req);
      const expectedSha256 = declaredDigest(req);
      const overwrite = overwriteBy(req, res.locals.caller);
      const writeOnce = overwrite === undefined;
      const upload = await receiveUpload(req, kind, { expectedSha256, writeOnce }, store, options);
      const { prepared } = upload;
      let spooled = upload.spooled;
      const request = {
        kind,
        ...prepared,
        size: spooled.size,
        sha256: spooled.sha256,
        overwrite: overwrite !== undefined,
      };
      let kept = false; // whether a job of this request holds the spooled file
      let result: IdempotentResult;
      try {
        // Now the digest is known whatever the form: a taken key is a 409, nothing is queued.
        if (!overwrite) await refuseTaken(store(), prepared.target, spooled.sha256);
        result = await answerIdempotently(
          res,
          options.idempotency,
          { key: idempotencyKey, route: 'POST /v1/artifacts/{kind}', request },
          async (scoped) => {
            const intake = await intakeArtifact(
              { producer, spool: options.spool, bucketFor: options.bucketFor },
              {
                prepared,
                overwrite,
                received: spooled,
                scoped: scoped && { key: scoped.key, keyScope: scoped.scope },
              },
            );
            spooled = intake.spooled;
            kept = intake.kept;
            const { answer } = intake;
            return { status: 202, location: answer.status_url, body: { ...answer } };
          },
        );
      } finally {
        // A refused request or a replay leaves this request's copy unused.
        if (!kept) await options.spool.remove(spooled.file);
      }
      sendIdempotentResult(res, result);
    },
  );

  // Before /:kind/:id only for clarity: a one-segment path cannot match it anyway.
  router.get('/v1/artifacts/stats', requireScope('read'), async (_req, res) => {
    res.json(await store().stats());
  });

  router.get('/v1/artifacts/:kind/:id', requireScope('read'), async (req, res) => {
    const kind = kindParam(req.params.kind);
    const id = artifactIdSchema.safeParse(req.params.id);
    if (!id.success) throw ValidationError.fromZod(id.error, 'id');
    res.json({
      kind,
      id: id.data,
      bucket: options.bucketFor(kind),
      artifacts: await store().list(kind, id.data),
    });
  });

  router.post(
    '/v1/artifacts/:kind/presign',
    requireScope('read'),
    // Its own small JSON parser: this router runs before the /v1 one (uploads are not JSON).
    ...jsonBody('16kb'),
    async (req, res) => {
      const kind = kindParam(req.params.kind);
      if (!req.is(JSON_TYPES)) {
        throw new HttpProblem(415, 'unsupported_media_type', 'send the body as application/json');
      }
      res.json(await presignArtifact(store(), options, { kind, body: req.body }));
    },
  );

  return router;
}

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

/**
 * Streams the upload into the spool: the raw body (ids in the query string) or multipart
 * form data. Everything the headers tell (digest, length, ids, metadata) is checked before
 * the first byte is read; a declared digest under a taken key is a 409 before the body.
 */
async function receiveUpload(
  req: Request,
  kind: ArtifactKind,
  { expectedSha256, writeOnce }: { expectedSha256: string | undefined; writeOnce: boolean },
  store: () => ArtifactReader,
  options: ArtifactRouteOptions,
): Promise<{ prepared: PreparedUpload; spooled: SpooledFile }> {
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

  let upload: { prepared: PreparedUpload; spooled: SpooledFile };
  try {
    if (multipart) {
      upload = await receiveMultipartBody(req, options.spool, limits, (fields, file) =>
        prepareMultipart(kind, fields, file),
      );
    } else {
      // Everything is checked before the first byte of the body is read.
      const prepared = prepareRaw(kind, req);
      upload = { prepared, spooled: await receiveRawBody(req, options.spool, limits) };
    }
  } catch (err) {
    throw uploadProblem(err);
  }
  return upload;
}

/** Who asked to overwrite (admin keys only), or undefined when the upload is write-once. */
function overwriteBy(req: Request, caller: Caller | undefined): { api_key: string } | undefined {
  const raw = req.header(OVERWRITE_HEADER);
  if (raw === undefined || raw.trim().toLowerCase() === 'false') return undefined;
  if (raw.trim().toLowerCase() !== 'true') {
    throw new ValidationError([{ path: OVERWRITE_HEADER, message: 'true or false' }]);
  }
  if (!caller || !hasScope(caller, 'admin')) {
    throw new HttpProblem(403, 'forbidden', `${OVERWRITE_HEADER} needs an admin key`, [
      { path: OVERWRITE_HEADER, message: 'admin scope only' },
    ]);
  }
  return { api_key: caller.name };
}

/** The :kind of an artifact route. */
export const artifactKindSchema = z.enum(ARTIFACT_KINDS);

/** The :kind of a route; an unknown kind is no such collection (404 naming `kind`). */
function kindParam(raw: unknown): ArtifactKind {
  const kind = artifactKindSchema.safeParse(raw);
  if (!kind.success) {
    throw new HttpProblem(404, 'not_found', `no artifact kind "${String(raw)}"`, [
      { path: 'kind', message: `must be one of ${ARTIFACT_KINDS.join(', ')}` },
    ]);
  }
  return kind.data;
}

function declaredDigest(req: Request): string | undefined {
  const raw = req.header(DIGEST_HEADER);
  if (raw === undefined) return undefined;
  const parsed = sha256Schema.safeParse(raw.trim());
  if (!parsed.success) throw ValidationError.fromZod(parsed.error, DIGEST_HEADER);
  return parsed.data;
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
