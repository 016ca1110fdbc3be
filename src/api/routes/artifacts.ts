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
  artifactKey,
  artifactTargetSchema,
  sha256Schema,
  type ArtifactKind,
} from '../../domain/artifact.js';
import { ValidationError } from '../../errors/index.js';
import { hasScope, type Caller } from '../../http/auth.js';
import { HttpProblem } from '../../http/problem.js';
import {
  OVERWRITE_HEADER,
  artifactJobIdFor,
  artifactObjectMetadata,
  intakeArtifact,
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
  scopedKeyOf,
  type IdempotentResult,
} from '../idempotent-request.js';
import { JSON_TYPES } from '../json-body.js';
import {
  DIGEST_HEADER,
  receiveUpload,
  type ReceivedUpload,
  type StartParts,
} from '../receive-upload.js';
import { defineRoute, ok, problem, type Json } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';

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
        const who = {
          kind,
          overwrite,
          key: headers['Idempotency-Key'],
          caller: caller?.name ?? '',
        };
        const upload = await receiveUpload(
          request as Request,
          kind,
          { expectedSha256, writeOnce: overwrite === undefined },
          deps.artifacts,
          () => deps.stores.artifacts,
          partsFor(who, deps),
        );
        const result = await intakeOnce(upload, { ...who, deps });
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

const UPLOAD_ROUTE = 'POST /v1/artifacts/{kind}';

/** Who sent an upload and how: what names its job. */
interface UploadRequest {
  kind: ArtifactKind;
  overwrite: { api_key: string } | undefined;
  key: string | undefined;
  caller: string;
}

/** What an upload request asks for: its digest binds an Idempotency-Key. */
function requestOf(
  { kind, overwrite }: UploadRequest,
  prepared: PreparedUpload,
  size: number,
  sha256: string,
) {
  return { kind, ...prepared, size, sha256, overwrite: overwrite !== undefined };
}

/**
 * Sends a raw body's parts to S3 while it arrives, into an upload created for the job the
 * request will make (its id, from the declared digest and size, is in the metadata).
 * Bodies smaller than one part go to the spool alone.
 */
function partsFor(who: UploadRequest, deps: ArtifactDeps): StartParts {
  return (prepared, { size, sha256 }) => {
    const store = deps.stores.artifacts;
    if (size < store.partSizeFor(size)) return undefined;
    const scoped = scopedKeyOf({
      caller: who.caller,
      key: who.key,
      route: UPLOAD_ROUTE,
      request: requestOf(who, prepared, size, sha256),
    });
    const jobId = artifactJobIdFor(deps.producer, {
      prepared,
      overwrite: who.overwrite,
      size,
      sha256,
      scoped: scoped && { key: scoped.key, keyScope: scoped.scope },
    });
    const parts = store.startIntakeParts(who.kind, artifactKey(prepared.target), {
      size,
      sha256,
      contentType: prepared.content_type,
      metadata: artifactObjectMetadata(prepared, jobId),
    });
    return { upload: parts, jobId };
  };
}

/**
 * Answers a received upload at most once per Idempotency-Key: a write-once key already taken
 * is a 409 and nothing is queued; the spooled copy is removed unless a job of this request
 * holds it (a refusal or a replay leaves it unused), and so are the parts sent during the
 * request unless that job holds them.
 */
async function intakeOnce(
  upload: ReceivedUpload,
  options: UploadRequest & { deps: ArtifactDeps },
): Promise<IdempotentResult> {
  const { overwrite, key, caller, deps } = options;
  const { prepared } = upload;
  const { spool } = deps.artifacts;
  let spooled = upload.spooled;
  const request = requestOf(options, prepared, spooled.size, spooled.sha256);
  let kept = false; // whether a job of this request holds the spooled file
  let partsKept = false; // whether it holds the parts sent during the request
  try {
    // Now the digest is known whatever the form: a taken key is a 409, nothing is queued.
    if (!overwrite) await refuseTaken(deps.stores.artifacts, prepared.target, spooled.sha256);
    return await answerIdempotently(
      deps.stores.idempotency,
      { caller, key, route: UPLOAD_ROUTE, request },
      async (scoped) => {
        const intake = await intakeArtifact(
          { producer: deps.producer, spool, bucketFor: deps.artifacts.bucketFor },
          {
            prepared,
            overwrite,
            received: spooled,
            scoped: scoped && { key: scoped.key, keyScope: scoped.scope },
            parts: upload.parts && { parts: upload.parts.parts, jobId: upload.parts.jobId },
          },
        );
        spooled = intake.spooled;
        kept = intake.kept;
        partsKept = intake.partsKept;
        const { answer } = intake;
        return { status: 202, location: answer.status_url, body: { ...answer } };
      },
    );
  } finally {
    // Parts first: aborting them never throws, removing the file may.
    if (!partsKept) await upload.parts?.abort();
    if (!kept) await spool.remove(spooled.file);
  }
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
export function kindParam(raw: unknown): ArtifactKind {
  const kind = artifactKindSchema.safeParse(raw);
  if (!kind.success) {
    throw new HttpProblem(404, 'not_found', `no artifact kind "${String(raw)}"`, [
      { path: 'kind', message: `must be one of ${ARTIFACT_KINDS.join(', ')}` },
    ]);
  }
  return kind.data;
}
