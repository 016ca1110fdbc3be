import { z } from 'zod';
import {
  artifactBytesSchema,
  artifactDeleteQuerySchema,
  artifactDeletedSchema,
} from '../../domain/api/artifact-objects.js';
import { problemSchema } from '../../domain/api/problem.js';
import { problemDocument } from '../../http/problem.js';
import { deleteArtifact } from '../../../queues/use-cases/delete-artifact.js';
import { downloadArtifact } from '../../../queues/use-cases/download-artifact.js';
import { badInput, pathParam } from '../contract/openapi-fragments.js';
import { defineRoute, ok, problem } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';
import { artifactKindSchema, kindParam } from './artifacts.js';

type ArtifactObjectDeps = Pick<ApiRouteDeps, 'artifacts'> & {
  stores: Pick<ApiRouteDeps['stores'], 'artifacts' | 'artifactDeletions'>;
};
const route = defineRoute<ArtifactObjectDeps>();

const PATH = '/v1/artifacts/{kind}/objects/{key}';

/** The SHA-256 of the whole object (what the upload verified), sent with every download. */
export const SHA256_HEADER = 'X-Stowage-SHA256';

const kind = pathParam('kind', artifactKindSchema, 'The artifact kind (seed 003).');
const key = pathParam(
  'key',
  z.string().min(1).max(1024),
  'The full key, as a listing shows it (`samples/{request_id}/{filename}`, …), percent-encoded as ONE segment (`/` as %2F).',
);

/** `attachment; filename*=…` for the key's last segment (RFC 6266 / 8187: any UTF-8 name). */
function attachment(objectKey: string): string {
  const name = objectKey.slice(objectKey.lastIndexOf('/') + 1);
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  // encodeURIComponent leaves ' ( ) * as they are; RFC 8187's attr-char does not allow them.
  const encoded = encodeURIComponent(name).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/**
 * One stored artifact by its key:
 *
 * - `GET /v1/artifacts/{kind}/objects/{key}` (read): the bytes, streamed from S3 as they come
 *   (never buffered); one `Range: bytes=…` gives a 206, a range past the end a 416; the
 *   stored SHA-256 of the whole object in `X-Stowage-SHA256`.
 * - `DELETE /v1/artifacts/{kind}/objects/{key}?reason=` (admin): deletes a sample or debug
 *   bundle for good, with an audit row; TA bundles, locked and archived objects are a 409.
 *
 * The key is one percent-encoded path segment, as the IOC routes take a URL.
 */
export const artifactObjectRouteTable = [
  route({
    operationId: 'downloadArtifact',
    method: 'get',
    path: PATH,
    summary: 'Download an artifact (streamed; one byte range honoured)',
    access: 'read',
    headers: z.object({
      Range: z
        .string()
        .optional()
        .describe('One `bytes=first-last`, `bytes=first-` or `bytes=-suffix`; others are ignored.'),
    }),
    responses: {
      200: ok(artifactBytesSchema, 'Every byte', 'application/octet-stream'),
      206: ok(artifactBytesSchema, 'The range asked (Content-Range)', 'application/octet-stream'),
      400: badInput,
      404: problem('No such kind or object'),
      416: ok(problemSchema, 'The range starts past the end', 'application/problem+json'),
    },
    openapi: { parameters: [kind, key] },
    handler: async ({ params, headers }, { deps }) => {
      const artifactKind = kindParam(params.kind);
      const objectKey = params.key ?? '';
      const answer = await downloadArtifact(deps.stores.artifacts, {
        kind: artifactKind,
        key: objectKey,
        range: headers.Range,
      });
      if (answer.status === 416) {
        return {
          status: 416,
          type: 'application/problem+json',
          headers: { 'Content-Range': `bytes */${answer.size}`, 'Accept-Ranges': 'bytes' },
          body: problemDocument({
            status: 416,
            code: 'range_not_satisfiable',
            detail: `the object has ${answer.size} bytes`,
            errors: [{ path: 'Range', message: `must start before byte ${answer.size}` }],
          }),
        };
      }
      const { object } = answer;
      const out: Record<string, string> = {
        'Content-Length': String(object.length),
        'Accept-Ranges': 'bytes',
        'Content-Disposition': attachment(objectKey),
      };
      if (object.etag !== undefined) out.ETag = object.etag;
      if (object.sha256 !== undefined) out[SHA256_HEADER] = object.sha256;
      if (object.lastModified) out['Last-Modified'] = object.lastModified.toUTCString();
      if (object.range) {
        out['Content-Range'] = `bytes ${object.range.start}-${object.range.end}/${object.size}`;
      }
      return { status: answer.status, type: object.contentType, headers: out, body: object.body };
    },
  }),
  route({
    operationId: 'deleteArtifact',
    method: 'delete',
    path: PATH,
    summary:
      'Delete a sample or debug bundle for good (every version), with an audit row; idempotent',
    access: 'admin',
    query: artifactDeleteQuerySchema,
    responses: {
      200: ok(artifactDeletedSchema, 'Deleted, or nothing was there (`deleted: false`)'),
      400: badInput,
      404: problem('No such kind'),
      409: problem(
        'Not deletable (`artifact_protected`): a TA bundle, under legal hold or retention, or in the archive bucket',
      ),
    },
    openapi: { parameters: [kind, key] },
    handler: async ({ params, query }, { caller, deps }) => {
      const result = await deleteArtifact(
        {
          store: deps.stores.artifacts,
          audit: deps.stores.artifactDeletions,
          archiveBucket: deps.artifacts.archiveBucket,
        },
        {
          kind: kindParam(params.kind),
          key: params.key ?? '',
          apiKey: caller?.name ?? '',
          reason: query.reason,
        },
      );
      return { status: 200, body: result };
    },
  }),
];
