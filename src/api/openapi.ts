import { z } from 'zod';
import type { Config } from '../config.js';
import {
  artifactInfoSchema,
  artifactListSchema,
  artifactStatsSchema,
  bucketStatsSchema,
  presignedUrlSchema,
  uploadAcceptedSchema,
} from '../domain/api/artifacts.js';
import { healthSchema, readinessSchema } from '../domain/api/health.js';
import { ingestFlowAcceptedSchema, ingestJobsAcceptedSchema } from '../domain/api/ingest.js';
import {
  cacheInvalidationSchema,
  cacheStatsSchema,
  iocLookupSchema,
  iocViewSchema,
} from '../domain/api/iocs.js';
import {
  jobAcceptedSchema,
  jobRefSchema,
  jobsAcceptedSchema,
  jobStatusSchema,
} from '../domain/api/jobs.js';
import { problemSchema } from '../domain/api/problem.js';
import {
  watermarkRewindsSchema,
  watermarkRewindViewSchema,
  watermarkRewoundSchema,
  watermarkViewSchema,
} from '../domain/api/watermarks.js';
import type { JobRegistry } from '../../jobs/job-registry.js';
import { JSON_SCHEMA_OPTIONS, ref, withoutKeys } from './contract/openapi-fragments.js';
import type { OpenApiDocument } from './openapi-document.js';
import type { Access, Json, ResponseSpec, RouteContract } from './route.js';
import { apiRouteTable } from './routes.js';

export type { OpenApiDocument } from './openapi-document.js';
export { payloadSchemaName } from './contract/openapi-fragments.js';

/** The answers' schemas, under the component names the document gives them. */
const RESPONSE_COMPONENTS: Record<string, z.ZodType> = {
  Problem: problemSchema,
  Health: healthSchema,
  Readiness: readinessSchema,
  JobRef: jobRefSchema,
  JobAccepted: jobAcceptedSchema,
  JobsAccepted: jobsAcceptedSchema,
  JobStatus: jobStatusSchema,
  IngestFlowAccepted: ingestFlowAcceptedSchema,
  IngestJobsAccepted: ingestJobsAcceptedSchema,
  UploadAccepted: uploadAcceptedSchema,
  ArtifactInfo: artifactInfoSchema,
  ArtifactList: artifactListSchema,
  BucketStats: bucketStatsSchema,
  ArtifactStats: artifactStatsSchema,
  PresignedUrl: presignedUrlSchema,
  IocView: iocViewSchema,
  IocLookup: iocLookupSchema,
  CacheInvalidation: cacheInvalidationSchema,
  CacheStats: cacheStatsSchema,
  WatermarkView: watermarkViewSchema,
  WatermarkRewindView: watermarkRewindViewSchema,
  WatermarkRewound: watermarkRewoundSchema,
  WatermarkRewinds: watermarkRewindsSchema,
};

/** Every named schema as a component: answers, and the request schemas the rows name. */
function components(rows: readonly RouteContract[]): {
  schemas: Record<string, Json>;
  nameOf: (schema: z.ZodType) => string | undefined;
} {
  const named = z.registry<{ id: string }>();
  const add = (id: string, schema: z.ZodType) => {
    if (!named.has(schema)) named.add(schema, { id });
  };
  for (const row of rows) {
    for (const [id, schema] of Object.entries(row.openapi?.components ?? {})) add(id, schema);
  }
  for (const [id, schema] of Object.entries(RESPONSE_COMPONENTS)) add(id, schema);
  const { schemas } = z.toJSONSchema(named, {
    ...JSON_SCHEMA_OPTIONS,
    uri: (id) => `#/components/schemas/${id}`,
  });
  const out: Record<string, Json> = {};
  for (const [id, schema] of Object.entries(schemas)) {
    // Shared $defs would resolve against the document root, where they are not.
    if (id === '__shared') throw new Error('a schema of the api has a cycle; give it an id');
    out[id] = withoutKeys(schema, ['$schema', '$id']);
  }
  return { schemas: out, nameOf: (schema) => named.get(schema)?.id };
}

/** An ingest record is an Ioc whose source may be left out: the route fills in source_id. */
function ingestIoc(ioc: Json): Json {
  const required = Array.isArray(ioc.required) ? (ioc.required as string[]) : [];
  return {
    ...ioc,
    required: required.filter((k) => k !== 'source'),
    description: 'An IOC as collectors send it; source defaults to the request source_id.',
  };
}

const problemResponse = (description: string): Json => ({
  description,
  content: { 'application/problem+json': { schema: ref('Problem') } },
});

/** Bearer or Basic (the key as password); a scope is a role of the security requirement. */
function security(access: Access, registry: JobRegistry): Json {
  if (access === 'public') return { security: [] };
  const roles = access === 'job-type' ? [] : [access];
  const scopes =
    access === 'job-type'
      ? Object.fromEntries(registry.definitions.map((d) => [d.name, d.scope]))
      : access;
  return {
    security: [{ bearerAuth: roles }, { basicAuth: roles }],
    'x-stowage-scope': scopes,
  };
}

/** Lays one row of the table out as an OpenAPI operation. */
function operation(
  row: RouteContract,
  registry: JobRegistry,
  schemaOf: (schema: z.ZodType) => Json,
): Json {
  const parameters = [
    ...zodParameters(row.params, 'path'),
    ...zodParameters(row.query, 'query'),
    ...(row.openapi?.parameters ?? []),
    ...zodParameters(row.headers, 'header'),
  ];
  const requestBody =
    row.openapi?.requestBody ??
    (row.body
      ? {
          required: row.bodyRequired ?? true,
          description: row.bodyDescription ?? 'The request body',
          content: { 'application/json': { schema: schemaOf(row.body) } },
        }
      : undefined);
  const responses: Record<string, Json> = {};
  for (const [status, spec] of Object.entries<ResponseSpec>(row.responses)) {
    responses[status] =
      'problem' in spec
        ? problemResponse(spec.description)
        : {
            description: spec.description,
            content: {
              [spec.contentType ?? 'application/json']: { schema: schemaOf(spec.schema) },
            },
          };
  }
  const guarded = row.access !== 'public';
  return {
    operationId: row.operationId,
    summary: row.summary,
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(requestBody ? { requestBody } : {}),
    responses: {
      ...responses,
      ...(guarded
        ? {
            401: problemResponse('Missing or unknown API key'),
            403: problemResponse('The key lacks the scope (admin holds them all)'),
            503: problemResponse('A backend is down'),
          }
        : {}),
    },
    ...security(row.access, registry),
  };
}

/** The parameters of a strict object schema: one per field, its description lifted out. */
function zodParameters(schema: z.ZodType | undefined, where: 'path' | 'query' | 'header'): Json[] {
  if (!schema) return [];
  const json = z.toJSONSchema(schema, JSON_SCHEMA_OPTIONS) as {
    properties?: Record<string, Json>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([name, field]) => {
    const { description, ...fieldSchema } = field;
    return {
      name,
      in: where,
      required: where === 'path' || (json.required ?? []).includes(name),
      ...(description === undefined ? {} : { description }),
      schema: fieldSchema,
    };
  });
}

/** The OpenAPI 3.1 document of the api, generated from its route table (src/api/routes.ts). */
export function createOpenApiDocument(config: Config, registry: JobRegistry): OpenApiDocument {
  const rows = apiRouteTable(config, registry);
  const { schemas, nameOf } = components(rows);
  const schemaOf = (schema: z.ZodType): Json => {
    const name = nameOf(schema);
    return name === undefined
      ? withoutKeys(z.toJSONSchema(schema, JSON_SCHEMA_OPTIONS), ['$schema'])
      : ref(name);
  };
  const ioc = schemas['Ioc'];
  if (!ioc) throw new Error('the Ioc schema was not generated');
  const paths: OpenApiDocument['paths'] = {};
  for (const row of rows) {
    (paths[row.path] ??= {})[row.method] = operation(row, registry, schemaOf);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Stowage',
      // The /v1 API; a breaking change is a /v2, not a new number here.
      version: '1',
      description: `Background storage jobs for security-data platforms. Every /v1 route needs an API key (Bearer, or Basic with the key as password); the scope each needs is in its security requirement and in x-stowage-scope. Errors are application/problem+json. Bull Board is at ${config.DASHBOARD_PATH}.`,
    },
    servers: [{ url: config.publicUrl }],
    paths,
    components: {
      schemas: { ...schemas, IngestIoc: ingestIoc(ioc) },
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <key>' },
        basicAuth: {
          type: 'http',
          scheme: 'basic',
          description: 'Any user name, the API key as password (for browsers).',
        },
      },
    },
  };
}
