import type { z } from 'zod';
import type { Config } from '../../config.js';
import {
  artifactListSchema,
  artifactStatsSchema,
  presignedUrlSchema,
  uploadAcceptedSchema,
} from '../../domain/api/artifacts.js';
import { artifactIdSchema, artifactTargetSchema, sha256Schema } from '../../domain/artifact.js';
import { ok, problem, type ContractOnlyRoute, type Json } from '../route.js';
import { artifactKindSchema, DIGEST_HEADER, presignBodySchema } from '../routes/artifacts.js';
import { badInput, idempotencyKeyHeader, keyConflict } from './jobs.js';
import { json, parameterSchema, pathParam, ref } from './openapi-fragments.js';

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
 * The contract of src/api/routes/artifacts.ts (served by its express router): upload, stats,
 * listing and presigned downloads.
 */
export function artifactContract(config: Config): ContractOnlyRoute[] {
  const kind = pathParam('kind', artifactKindSchema, 'The artifact kind (seed 003).');
  const presignBody = presignBodySchema({
    presignDefaultSeconds: config.PRESIGN_DEFAULT_SECONDS,
    presignMaxSeconds: config.PRESIGN_MAX_SECONDS,
  });
  return [
    {
      servedBy: 'express-router',
      operationId: 'uploadArtifact',
      method: 'post',
      path: '/v1/artifacts/{kind}',
      summary:
        'Upload an artifact (streamed to the spool), then enqueue artifact.upload. Ids go in the query string, or as multipart text fields before the one file part.',
      access: 'artifacts',
      responses: {
        202: ok(uploadAcceptedSchema, 'Spooled and enqueued'),
        400: badInput,
        409: keyConflict,
        404: problem('Unknown kind'),
        413: problem(`Larger than ARTIFACT_MAX_BYTES (${config.ARTIFACT_MAX_BYTES})`),
      },
      openapi: {
        parameters: [
          kind,
          ...targetQueryParams(),
          {
            name: DIGEST_HEADER,
            in: 'header',
            required: false,
            description: 'SHA-256 of the body; checked while streaming.',
            schema: parameterSchema(sha256Schema),
          },
          idempotencyKeyHeader(),
        ],
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
    },
    {
      servedBy: 'express-router',
      operationId: 'artifactStats',
      method: 'get',
      path: '/v1/artifacts/stats',
      summary: 'Objects, bytes, oldest and newest per kind',
      access: 'read',
      responses: { 200: ok(artifactStatsSchema, 'Statistics per kind') },
    },
    {
      servedBy: 'express-router',
      operationId: 'listArtifacts',
      method: 'get',
      path: '/v1/artifacts/{kind}/{id}',
      summary: 'The artifacts of one request or validation run',
      access: 'read',
      responses: { 200: ok(artifactListSchema, 'The artifacts'), 400: badInput },
      openapi: {
        parameters: [kind, pathParam('id', artifactIdSchema, 'Request or validation run id.')],
      },
    },
    {
      servedBy: 'express-router',
      operationId: 'presignArtifact',
      method: 'post',
      path: '/v1/artifacts/{kind}/presign',
      summary: 'A presigned download URL',
      access: 'read',
      body: presignBody,
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
    },
  ];
}
