import type { Request } from 'express';
import { z } from 'zod';
import type { Config } from '../../config.js';
import {
  artifactListSchema,
  artifactStatsSchema,
  presignedUrlSchema,
  uploadAcceptedSchema,
} from '../../domain/api/artifacts.js';
import {
  ARTIFACT_KINDS,
  artifactIdSchema,
  artifactTargetSchema,
  sha256Schema,
  type ArtifactKind,
} from '../../domain/artifact.js';
import { StowageError, ValidationError } from '../../errors/index.js';
import { hasScope, type Caller } from '../../http/auth.js';
import { HttpProblem } from '../../http/problem.js';
import type { ArtifactReader } from '../../stores/s3/artifact-store.js';
import type { SpooledFile } from '../../stores/local/spool.js';
import {
  OVERWRITE_HEADER,
  intakeArtifact,
  prepareUpload,
  refuseTaken,
  type PreparedUpload,
} from '../../../queues/use-cases/intake-artifact.js';
import { presignArtifact, presignBodySchema } from '../../../queues/use-cases/presign-artifact.js';
import {
  badInput,
  idempotencyKeyHeader,
  json,
  keyConflict,
  parameterSchema,
  pathParam,
  ref,
} from '../contract/openapi-fragments.js';
import {
  answerIdempotently,
  idempotentAnswer,
  type IdempotentResult,
} from '../idempotent-request.js';
import { JSON_TYPES } from '../json-body.js';
import { defineRoute, ok, problem, type Json } from '../route.js';
import type { ApiRouteDeps, ArtifactRouteOptions } from '../route-deps.js';
import {
  MULTIPART_OVERHEAD_BYTES,
  isMultipart,
  receiveMultipartBody,
  receiveRawBody,
  type FilePartInfo,
} from '../upload-body.js';

/** The header carrying the sender's SHA-256 of the artifact. */
export const DIGEST_HEADER = 'X-Content-SHA256';
const META_HEADER = 'x-artifact-meta-';
const META_FIELD = 'meta.';

type ArtifactDeps = Pick<ApiRouteDeps, 'producer' | 'artifacts'> & {
  stores: Pick<ApiRouteDeps['stores'], 'idempotency' | 'artifacts'>;
};
const route = defineRoute<ArtifactDeps>();

/** The headers an upload reads besides the body's own. */
const uploadHeaders = z.object({
  [DIGEST_HEADER]: sha256Schema
    .optional()
    .describe('SHA-256 of the body; checked while streaming.'),
  'Idempotency-Key': idempotencyKeyHeader,
  [OVERWRITE_HEADER]: z
    .string()
    .optional()
    .describe(
      '`true` replaces a stored artifact (admin keys only); uploads are write-once without it.',
    ),
});

/** The ids of an upload's target as query parameters; ArtifactTarget says which kind needs which. */
function targetQueryParams(): Json[] {
  const params = new Map<string, Json>();
  for (const option of artifactTargetSchema.options) {
    for (const [name, field] of Object.entries(option.shape) as [string, z.ZodType][]) {
      if (name === 'kind' || params.has(name)) continue;
      params.set(name, {
        name,
        in: 'query',
        required: false,
        description:
          'An id of the target (schema ArtifactTarget); which ones apply depends on kind.',
        schema: parameterSchema(field),
      });
    }
  }
  return [...params.values()];
}

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
 * Served before the JSON body parser: an upload body is never buffered.
 */
export function artifactRouteTable(config: Config) {
  const kind = pathParam('kind', artifactKindSchema, 'The artifact kind (seed 003).');
  const presignBody = presignBodySchema({
    presignDefaultSeconds: config.PRESIGN_DEFAULT_SECONDS,
    presignMaxSeconds: config.PRESIGN_MAX_SECONDS,
  });
  return [
    route({
      operationId: 'uploadArtifact',
      method: 'post',
      path: '/v1/artifacts/{kind}',
      summary:
        'Upload an artifact (streamed to the spool), then enqueue artifact.upload. Ids go in the query string, or as multipart text fields before the one file part.',
      access: 'artifacts',
      stream: true,
      headers: uploadHeaders,
      responses: {
        202: ok(uploadAcceptedSchema, 'Spooled and enqueued'),
        400: badInput,
        409: keyConflict,
        404: problem('Unknown kind'),
        413: problem(`Larger than ARTIFACT_MAX_BYTES (${config.ARTIFACT_MAX_BYTES})`),
      },
      openapi: {
        parameters: [kind, ...targetQueryParams()],
        requestBody: {
          required: true,
          content: {
            'application/octet-stream': {
              schema: { contentMediaType: 'application/octet-stream' },
            },
            'multipart/form-data': {
              schema: {
                type: 'object',
                properties: { file: { contentMediaType: 'application/octet-stream' } },
                additionalProperties: { type: 'string' },
              },
            },
          },
        },
        components: { ArtifactTarget: artifactTargetSchema },
      },
      handler: async ({ params, headers }, { caller, deps, request }) => {
        const kind = kindParam(params.kind);
        const overwrite = overwriteBy(headers[OVERWRITE_HEADER], caller);
        const expectedSha256 = headers[DIGEST_HEADER];
        const upload = await receiveUpload(
          request as Request,
          kind,
          { expectedSha256, writeOnce: overwrite === undefined },
          deps,
        );
        const result = await intakeOnce(upload, {
          kind,
          overwrite,
          key: headers['Idempotency-Key'],
          caller: caller?.name ?? '',
          deps,
        });
        return idempotentAnswer(result);
      },
    }),
    route({
      operationId: 'artifactStats',
      method: 'get',
      // Before /{kind}/{id} only for clarity: a one-segment path cannot match it anyway.
      path: '/v1/artifacts/stats',
      summary: 'Objects, bytes, oldest and newest per kind',
      access: 'read',
      responses: { 200: ok(artifactStatsSchema, 'Statistics per kind') },
      handler: async (_input, { deps }) => ({
        status: 200,
        body: await deps.stores.artifacts.stats(),
      }),
    }),
    route({
      operationId: 'listArtifacts',
      method: 'get',
      path: '/v1/artifacts/{kind}/{id}',
      summary: 'The artifacts of one request or validation run',
      access: 'read',
      responses: { 200: ok(artifactListSchema, 'The artifacts'), 400: badInput },
      openapi: {
        parameters: [kind, pathParam('id', artifactIdSchema, 'Request or validation run id.')],
      },
      handler: async ({ params }, { deps }) => {
        const kind = kindParam(params.kind);
        const id = artifactIdSchema.safeParse(params.id);
        if (!id.success) throw ValidationError.fromZod(id.error, 'id');
        return {
          status: 200,
          body: {
            kind,
            id: id.data,
            bucket: deps.artifacts.bucketFor(kind),
            artifacts: await deps.stores.artifacts.list(kind, id.data),
          },
        };
      },
    }),
    route({
      operationId: 'presignArtifact',
      method: 'post',
      path: '/v1/artifacts/{kind}/presign',
      summary: 'A presigned download URL',
      access: 'read',
      // Its own small JSON parser: these rows run before the /v1 one (uploads are not JSON).
      bodyLimit: '16kb',
      responses: {
        200: ok(presignedUrlSchema, 'The URL and when it expires'),
        400: badInput,
        404: problem('No such object'),
        415: problem('Not JSON'),
      },
      openapi: {
        parameters: [kind],
        requestBody: { required: true, ...json(ref('PresignBody'), 'The key and lifetime') },
        components: { PresignBody: presignBody },
      },
      // presignArtifact validates the body.
      handler: async ({ params, body }, { deps, request }) => {
        const kind = kindParam(params.kind);
        if (!(request as Request).is(JSON_TYPES)) {
          throw new HttpProblem(415, 'unsupported_media_type', 'send the body as application/json');
        }
        return {
          status: 200,
          body: await presignArtifact(deps.stores.artifacts, deps.artifacts, { kind, body }),
        };
      },
    }),
  ];
}

/**
 * Answers a received upload at most once per Idempotency-Key: a write-once key already taken
 * is a 409 and nothing is queued; the spooled copy is removed unless a job of this request
 * holds it (a refusal or a replay leaves it unused).
 */
async function intakeOnce(
  upload: { prepared: PreparedUpload; spooled: SpooledFile },
  options: {
    kind: ArtifactKind;
    overwrite: { api_key: string } | undefined;
    key: string | undefined;
    caller: string;
    deps: ArtifactDeps;
  },
): Promise<IdempotentResult> {
  const { kind, overwrite, key, caller, deps } = options;
  const { prepared } = upload;
  const { spool } = deps.artifacts;
  let spooled = upload.spooled;
  const request = {
    kind,
    ...prepared,
    size: spooled.size,
    sha256: spooled.sha256,
    overwrite: overwrite !== undefined,
  };
  let kept = false; // whether a job of this request holds the spooled file
  try {
    // Now the digest is known whatever the form: a taken key is a 409, nothing is queued.
    if (!overwrite) await refuseTaken(deps.stores.artifacts, prepared.target, spooled.sha256);
    return await answerIdempotently(
      deps.stores.idempotency,
      { caller, key, route: 'POST /v1/artifacts/{kind}', request },
      async (scoped) => {
        const intake = await intakeArtifact(
          { producer: deps.producer, spool, bucketFor: deps.artifacts.bucketFor },
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
    if (!kept) await spool.remove(spooled.file);
  }
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
  deps: ArtifactDeps,
): Promise<{ prepared: PreparedUpload; spooled: SpooledFile }> {
  const options: ArtifactRouteOptions = deps.artifacts;
  const store = (): ArtifactReader => deps.stores.artifacts;
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
function overwriteBy(
  raw: string | undefined,
  caller: Caller | undefined,
): { api_key: string } | undefined {
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
