import { Router, type Request } from 'express';
import { z } from 'zod';
import {
  ARTIFACT_KINDS,
  artifactIdSchema,
  artifactKey,
  artifactMetadataSchema,
  artifactTargetSchema,
  sha256Schema,
  type ArtifactKind,
  type ArtifactTarget,
} from '../../domain/artifact.js';
import { StowageError, ValidationError, type FieldIssue } from '../../errors/index.js';
import type { ArtifactReader } from '../../stores/s3/artifact-store.js';
import type { Spool, SpooledFile } from '../../stores/local/spool.js';
import { artifactUploadJob, spoolTagOf } from '../../../jobs/artifact-upload/definition.js';
import type { AnyJobDefinition } from '../../../jobs/job-definition.js';
import type { Producer } from '../../../queues/producer.js';
import type { QueueSet } from '../../../queues/queue-set.js';
import { hasScope, requireScope, type Caller } from '../auth.js';
import { JSON_TYPES, jsonBody } from '../json-body.js';
import { HttpProblem } from '../problem.js';
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
  type ScopedKey,
} from '../idempotent-request.js';
import type { RedisIdempotencyStore } from '../../stores/redis/idempotency-store.js';
import { readIdempotencyKey } from './jobs.js';

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
const contentTypeSchema = artifactUploadJob.payload.shape.content_type;

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
      if (!multipart && !overwrite && expectedSha256 !== undefined) {
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
            const bound = await enqueueUpload(
              producer,
              queues,
              options.spool,
              { ...prepared, ...(overwrite ? { overwrite } : {}) },
              spooled,
              scoped,
            );
            spooled = bound.spooled;
            const { id, view, replayed } = bound;
            kept = !replayed;
            return {
              status: 202,
              location: `/v1/jobs/${id}`,
              body: {
                id,
                type: artifactUploadJob.name,
                kind,
                key: artifactKey(view.target),
                bucket: options.bucketFor(kind),
                size: view.size,
                sha256: view.sha256,
                content_type: view.content_type,
                replayed,
                status_url: `/v1/jobs/${id}`,
              },
            };
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

  const presignBody = presignBodySchema(options);
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
      const body = presignBody.safeParse(req.body);
      if (!body.success) throw ValidationError.fromZod(body.error);
      const { key, expires_in } = body.data;
      if (!targetOfKey(kind, key)) {
        throw new ValidationError([
          { path: 'key', message: `not a ${kind} key (${KEY_LAYOUTS[kind]})` },
        ]);
      }
      if (!(await store().head(kind, key))) {
        throw new HttpProblem(404, 'not_found', `no ${kind} "${key}"`, [
          { path: 'key', message: 'no such object' },
        ]);
      }
      // The clock is read before signing, so the URL lives at least until expires_at.
      const expiresAt = new Date(Date.now() + expires_in * 1000);
      const url = await store().presign(kind, key, expires_in);
      res.json({ kind, key, url, expires_in, expires_at: expiresAt.toISOString() });
    },
  );

  return router;
}

/** The body of `POST /v1/artifacts/{kind}/presign`, bounded by PRESIGN_*_SECONDS. */
export function presignBodySchema(
  limits: Pick<ArtifactRouteOptions, 'presignDefaultSeconds' | 'presignMaxSeconds'>,
) {
  return z.strictObject({
    key: z.string().min(1).max(1024),
    expires_in: z
      .number()
      .int()
      .min(1)
      .max(limits.presignMaxSeconds, `at most ${limits.presignMaxSeconds} seconds`)
      .default(Math.min(limits.presignDefaultSeconds, limits.presignMaxSeconds)),
  });
}

/** What is known before the body is read: the validated target, content type and metadata. */
interface PreparedUpload {
  target: ArtifactTarget;
  content_type: string;
  metadata: Record<string, string>;
}

function prepareRaw(kind: ArtifactKind, req: Request): PreparedUpload {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.startsWith(META_HEADER) && typeof value === 'string') {
      metadata[name.slice(META_HEADER.length)] = value;
    }
  }
  return prepare(
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
  return prepare({ ...ids, kind }, file.mimeType, metadata, {
    contentType: 'file',
    metadata: (name) => `${META_FIELD}${name}`,
  });
}

/** Validates target, content type and metadata together, naming each field as the client sent it. */
function prepare(
  target: Record<string, unknown>,
  contentType: string,
  metadata: Record<string, string>,
  names: { contentType: string; metadata: (name: string) => string },
): PreparedUpload {
  const issues: FieldIssue[] = [];
  const t = artifactTargetSchema.safeParse(target);
  if (!t.success) issues.push(...ValidationError.fromZod(t.error).issues);
  const c = contentTypeSchema.safeParse(contentType);
  if (!c.success) issues.push(...ValidationError.fromZod(c.error, names.contentType).issues);
  const m = artifactMetadataSchema.safeParse(metadata);
  if (!m.success) {
    for (const issue of m.error.issues) {
      const [name] = issue.path;
      issues.push({
        path: name === undefined ? 'metadata' : names.metadata(String(name)),
        message: issue.message,
      });
    }
  }
  if (!t.success || !c.success || !m.success) throw new ValidationError(issues);
  return { target: t.data, content_type: c.data, metadata: m.data };
}

/** What the upload answer reports about the job's artifact. */
interface UploadView {
  target: ArtifactTarget;
  size: number;
  sha256: string;
  content_type: string;
}

/**
 * Binds the spooled file to the job it is for, then enqueues that job. The intake is the one
 * trusted producer of spool sources and overwrites (the generic route refuses both).
 */
async function enqueueUpload(
  producer: Producer<readonly AnyJobDefinition[]>,
  queues: QueueSet,
  spool: Spool,
  prepared: PreparedUpload & { overwrite?: { api_key: string } },
  received: SpooledFile,
  scoped: ScopedKey | undefined,
): Promise<{ id: string; view: UploadView; replayed: boolean; spooled: SpooledFile }> {
  const { size, sha256 } = received;
  const options = {
    trusted: true,
    ...(scoped === undefined ? {} : { idempotencyKey: scoped.key, keyScope: scoped.scope }),
  };
  const payloadWith = (file: string) => ({
    ...prepared,
    source: { type: 'spool', file, size, sha256 },
  });
  // The id depends on the key and digest, not on the file: any bound-looking name will do.
  const jobId = producer.jobIdFor(
    artifactUploadJob.name,
    payloadWith(`${spoolTagOf('x')}.${received.file}`),
    options,
  );
  const file = await spool.bind(received.file, spoolTagOf(jobId));
  const spooled = { ...received, file };
  const job = await producer.enqueueByName(artifactUploadJob.name, payloadWith(file), {
    ...options,
    jobId,
  });
  const ours = { target: prepared.target, size, sha256, content_type: prepared.content_type };
  // BullMQ keeps a job that already has this id, with its own payload and spool file; that
  // job is the answer, so a replay answers like the first request did.
  const existing = await queues.get(artifactUploadJob.queue).getJob(job.id);
  const source = (existing?.data as { source?: { file?: unknown } } | undefined)?.source;
  if (!existing || source?.file === file) {
    return { id: job.id, view: ours, replayed: false, spooled };
  }
  const stored = artifactUploadJob.payload.safeParse(existing.data);
  const view = stored.success
    ? {
        target: stored.data.target,
        size: stored.data.source.size ?? size,
        sha256: stored.data.source.sha256 ?? sha256,
        content_type: stored.data.content_type,
      }
    : ours;
  return { id: job.id, view, replayed: true, spooled };
}

/** The header with which an admin key replaces an artifact of another digest. */
export const OVERWRITE_HEADER = 'X-Artifact-Overwrite';

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

/** 409 when the target's key already holds an artifact with another digest (write-once). */
async function refuseTaken(
  store: ArtifactReader,
  target: ArtifactTarget,
  sha256: string,
): Promise<void> {
  const key = artifactKey(target);
  const head = await store.head(target.kind, key);
  if (!head || head.sha256 === sha256) return;
  throw new HttpProblem(
    409,
    'artifact_exists',
    `${target.kind} "${key}" already holds another artifact (sha256 ${head.sha256 ?? 'unknown'}); artifacts are write-once, an admin key may replace one with ${OVERWRITE_HEADER}: true`,
    [{ path: 'key', message: 'holds an artifact with another SHA-256' }],
  );
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

const KEY_LAYOUTS: Record<ArtifactKind, string> = {
  sample: 'samples/{request_id}/{filename}',
  'ta-bundle': 'tas/{request_id}/v{version}/{revision_id}.tgz',
  'debug-bundle': 'debug/{validation_run_id}/{filename}',
};

/**
 * The target a key stands for, or undefined unless the key is exactly what artifactKey makes
 * for a valid target of that kind: re-deriving it rules out `..`, extra segments and other
 * prefixes whatever the encoding tricks.
 */
function targetOfKey(kind: ArtifactKind, key: string): ArtifactTarget | undefined {
  const parts = key.split('/');
  let candidate: unknown;
  if (kind === 'sample' && parts.length === 3 && parts[0] === 'samples') {
    candidate = { kind, request_id: parts[1], filename: parts[2] };
  } else if (kind === 'debug-bundle' && parts.length === 3 && parts[0] === 'debug') {
    candidate = { kind, validation_run_id: parts[1], filename: parts[2] };
  } else if (kind === 'ta-bundle' && parts.length === 4 && parts[0] === 'tas') {
    const version = /^v([1-9][0-9]*)$/.exec(parts[2] ?? '')?.[1];
    const revision = /^(.+)\.tgz$/.exec(parts[3] ?? '')?.[1];
    candidate = { kind, request_id: parts[1], revision_id: revision, version: Number(version) };
  }
  if (candidate === undefined) return undefined;
  const parsed = artifactTargetSchema.safeParse(candidate);
  if (!parsed.success || artifactKey(parsed.data) !== key) return undefined;
  return parsed.data;
}
