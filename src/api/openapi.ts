import { z } from 'zod';
import type { Config, Scope } from '../config.js';
import { artifactIdSchema, artifactTargetSchema, sha256Schema } from '../domain/artifact.js';
import { iocSchema } from '../domain/ioc.js';
import {
  sourceIdSchema,
  watermarkPutBodySchema,
  watermarkRewindBodySchema,
} from '../domain/watermark.js';
import type { JobRegistry } from '../../jobs/job-registry.js';
import { maintenanceJobs } from '../../jobs/maintenance-jobs.js';
import { artifactKindSchema, DIGEST_HEADER, presignBodySchema } from './routes/artifacts.js';
import { ingestBodySchema } from './routes/ingest.js';
import { iocTypeSchema } from './routes/iocs.js';
import { bulkJobsBodySchema, idempotencyKeySchema } from './routes/jobs.js';

type Json = Record<string, unknown>;

/** An OpenAPI 3.1 document as plain JSON. */
export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  servers: { url: string }[];
  paths: Record<string, Record<string, Json>>;
  components: { schemas: Record<string, Json>; securitySchemes: Record<string, Json> };
}

/** Who may call an operation: nobody needs a key, one scope, or the scope of the job type. */
type Access = 'public' | Scope | 'job-type';

/** One operation of the table below, before it is laid out as OpenAPI. */
interface Operation {
  method: 'get' | 'post' | 'put' | 'delete';
  /** OpenAPI path template; `{name}` where express has `:name`. */
  path: string;
  summary: string;
  access: Access;
  parameters?: Json[];
  requestBody?: Json;
  responses: Record<string, Json>;
}

/** The component name of a job type's payload: `iocs.insert` → `IocsInsertPayload`. */
export function payloadSchemaName(jobName: string): string {
  const words = jobName.split(/[.-]/).map((w) => w.charAt(0).toUpperCase() + w.slice(1));
  return `${words.join('')}Payload`;
}

/**
 * A request body is JSON, so a Date a producer hands in reaches the API as an ISO string;
 * other shapes JSON cannot carry (transforms, custom checks) document their input side.
 */
const JSON_SCHEMA_OPTIONS = {
  target: 'draft-2020-12',
  io: 'input',
  unrepresentable: 'any',
  override: ({ zodSchema, jsonSchema }) => {
    if (zodSchema._zod.def.type === 'date') {
      jsonSchema.type = 'string';
      jsonSchema.format = 'date-time';
    }
  },
} satisfies z.core.ToJSONSchemaParams;

/** A component is a schema inside the document, not a JSON Schema document of its own. */
function withoutKeys(schema: object, keys: string[]): Json {
  return Object.fromEntries(Object.entries(schema).filter(([k]) => !keys.includes(k)));
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

const json = (schema: Json, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ref('Problem') } },
});

/** JSON Schema of a parameter's zod schema, inlined (parameters are small). */
function parameterSchema(schema: z.ZodType): Json {
  return withoutKeys(z.toJSONSchema(schema, JSON_SCHEMA_OPTIONS), ['$schema']);
}

function pathParam(name: string, schema: z.ZodType, description: string): Json {
  return { name, in: 'path', required: true, description, schema: parameterSchema(schema) };
}

const idempotencyKeyHeader = () => ({
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Scoped to the API key and the route, and bound to the request body (SHA-256) for IDEMPOTENCY_TTL_HOURS: the same key with the same body answers as the first time (header Idempotent-Replayed: true), even after the job was removed; with another body it is a 409 idempotency_conflict.',
  schema: parameterSchema(idempotencyKeySchema),
});

/** RFC 9457 problem document, as src/api/problem.ts writes it. */
const PROBLEM_SCHEMA: Json = {
  type: 'object',
  required: ['type', 'title', 'status', 'detail', 'code'],
  properties: {
    type: { type: 'string', format: 'uri' },
    title: { type: 'string' },
    status: { type: 'integer', minimum: 400, maximum: 599 },
    detail: { type: 'string' },
    code: { type: 'string', description: 'Stable error code, e.g. invalid_payload.' },
    errors: {
      type: 'array',
      description: 'Each failing field of a bad request.',
      items: {
        type: 'object',
        required: ['path', 'message'],
        properties: { path: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
};

const JOB_ACCEPTED_SCHEMA: Json = {
  type: 'object',
  required: ['id', 'type', 'queue', 'status_url'],
  properties: {
    id: { type: 'string' },
    type: { type: 'string' },
    queue: { type: 'string' },
    status_url: { type: 'string' },
  },
};

const JOB_STATUS_SCHEMA: Json = {
  type: 'object',
  required: ['id', 'type', 'queue', 'state', 'attempts_made', 'max_attempts', 'payload'],
  properties: {
    id: { type: 'string' },
    type: { type: 'string' },
    queue: { type: 'string' },
    state: { type: 'string' },
    progress: {},
    attempts_made: { type: 'integer' },
    max_attempts: { type: 'integer' },
    return_value: {},
    failed_reason: { type: ['string', 'null'] },
    created_at: { type: 'string', format: 'date-time' },
    processed_at: { type: ['string', 'null'], format: 'date-time' },
    finished_at: { type: ['string', 'null'], format: 'date-time' },
    children: { type: 'object', description: 'Dependency counts of a flow parent.' },
    payload: { type: 'object' },
  },
};

/** The zod schemas that validate requests, under the component names the document uses. */
function requestSchemas(config: Config, registry: JobRegistry): Record<string, Json> {
  const named = z.registry<{ id: string }>();
  named.add(iocSchema, { id: 'Ioc' });
  named.add(artifactTargetSchema, { id: 'ArtifactTarget' });
  named.add(watermarkPutBodySchema, { id: 'WatermarkPutBody' });
  named.add(watermarkRewindBodySchema, { id: 'WatermarkRewindBody' });
  named.add(bulkJobsBodySchema, { id: 'BulkJobsBody' });
  named.add(
    ingestBodySchema({ maxIocs: config.INGEST_MAX_IOCS, chunkSize: config.INGEST_CHUNK_SIZE }),
    { id: 'IngestBody' },
  );
  named.add(
    presignBodySchema({
      presignDefaultSeconds: config.PRESIGN_DEFAULT_SECONDS,
      presignMaxSeconds: config.PRESIGN_MAX_SECONDS,
    }),
    { id: 'PresignBody' },
  );
  for (const definition of registry.definitions) {
    named.add(definition.payload, { id: payloadSchemaName(definition.name) });
  }
  const { schemas } = z.toJSONSchema(named, {
    ...JSON_SCHEMA_OPTIONS,
    uri: (id) => `#/components/schemas/${id}`,
  });
  const out: Record<string, Json> = {};
  for (const [id, schema] of Object.entries(schemas)) {
    // Shared $defs would resolve against the document root, where they are not.
    if (id === '__shared') throw new Error('a request schema has a cycle; give it an id');
    out[id] = withoutKeys(schema, ['$schema', '$id']);
  }
  return out;
}

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

/** An ingest record is an Ioc whose source may be left out: the route fills in source_id. */
function ingestIoc(ioc: Json): Json {
  const required = Array.isArray(ioc.required) ? (ioc.required as string[]) : [];
  return {
    ...ioc,
    required: required.filter((k) => k !== 'source'),
    description: 'An IOC as collectors send it; source defaults to the request source_id.',
  };
}

/** Every route of the api, in the order app.ts mounts them. */
function operations(config: Config, registry: JobRegistry): Operation[] {
  const types = registry.names();
  const payloads = { anyOf: types.map((t) => ref(payloadSchemaName(t))) };
  const typeList = registry.definitions
    .map((d) => `- \`${d.name}\` (queue ${d.queue}, scope ${d.scope}): ${d.description}`)
    .join('\n');
  const typeParam = {
    name: 'type',
    in: 'path',
    required: true,
    description: `The job type; the request body is its payload.\n\n${typeList}`,
    schema: { type: 'string', enum: types },
  };
  const kind = pathParam('kind', artifactKindSchema, 'The artifact kind (seed 003).');
  const iocParams = [
    pathParam('type', iocTypeSchema, 'The IOC type.'),
    { name: 'value', in: 'path', required: true, schema: { type: 'string' } },
  ];
  const sourceId = pathParam('source_id', sourceIdSchema, 'The collector source.');
  const maintenance = maintenanceJobs(registry.definitions).map((d) => d.name);
  const idempotencyKey = idempotencyKeyHeader();
  const badInput = problem('Bad input; `errors` names each failing field');
  const keyConflict = problem('Idempotency-Key already used with another request body');

  return [
    {
      method: 'get',
      path: '/health',
      summary: 'Liveness: answers while the process runs',
      access: 'public',
      responses: { 200: json({ type: 'object' }, '{"status":"healthy"}') },
    },
    {
      method: 'get',
      path: '/ready',
      summary: 'Readiness: every backend answers',
      access: 'public',
      responses: {
        200: json({ type: 'object' }, 'Ready, with each backend up'),
        503: problem('A backend is down; `errors` names it'),
      },
    },
    {
      method: 'get',
      path: '/metrics',
      summary: 'Prometheus metrics of this process (text exposition format)',
      access: 'public',
      responses: {
        200: {
          description: 'Prometheus text format 0.0.4',
          content: { 'text/plain': { schema: { type: 'string' } } },
        },
      },
    },
    {
      method: 'get',
      path: '/openapi.json',
      summary: 'This document',
      access: 'public',
      responses: { 200: json({ type: 'object' }, 'OpenAPI 3.1') },
    },
    {
      method: 'post',
      path: '/v1/artifacts/{kind}',
      summary:
        'Upload an artifact (streamed to the spool), then enqueue artifact.upload. Ids go in the query string, or as multipart text fields before the one file part.',
      access: 'artifacts',
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
        idempotencyKey,
      ],
      requestBody: {
        required: true,
        content: {
          'application/octet-stream': { schema: { contentMediaType: 'application/octet-stream' } },
          'multipart/form-data': {
            schema: {
              type: 'object',
              properties: { file: { contentMediaType: 'application/octet-stream' } },
              additionalProperties: { type: 'string' },
            },
          },
        },
      },
      responses: {
        202: json({ type: 'object' }, 'Spooled and enqueued'),
        400: badInput,
        409: keyConflict,
        404: problem('Unknown kind'),
        413: problem(`Larger than ARTIFACT_MAX_BYTES (${config.ARTIFACT_MAX_BYTES})`),
      },
    },
    {
      method: 'get',
      path: '/v1/artifacts/stats',
      summary: 'Objects, bytes, oldest and newest per kind',
      access: 'read',
      responses: { 200: json({ type: 'object' }, 'Statistics per kind') },
    },
    {
      method: 'get',
      path: '/v1/artifacts/{kind}/{id}',
      summary: 'The artifacts of one request or validation run',
      access: 'read',
      parameters: [kind, pathParam('id', artifactIdSchema, 'Request or validation run id.')],
      responses: { 200: json({ type: 'object' }, 'The artifacts'), 400: badInput },
    },
    {
      method: 'post',
      path: '/v1/artifacts/{kind}/presign',
      summary: 'A presigned download URL',
      access: 'read',
      parameters: [kind],
      requestBody: { required: true, ...json(ref('PresignBody'), 'The key and lifetime') },
      responses: {
        200: json({ type: 'object' }, 'The URL and when it expires'),
        400: badInput,
        404: problem('No such object'),
        415: problem('Not JSON'),
      },
    },
    {
      method: 'post',
      // One template for POST and GET: OpenAPI forbids two that differ only in names.
      path: '/v1/jobs/{job}',
      summary: 'Enqueue one job after validating its payload',
      access: 'job-type',
      parameters: [{ ...typeParam, name: 'job' }, idempotencyKey],
      requestBody: { required: true, ...json(payloads, 'The payload of the job type') },
      responses: {
        202: json(ref('JobAccepted'), 'Enqueued (or the job an Idempotency-Key already made)'),
        400: badInput,
        409: keyConflict,
        404: problem('Unknown job type'),
        413: problem(`Body over API_BODY_LIMIT (${config.API_BODY_LIMIT})`),
        415: problem('Not JSON'),
      },
    },
    {
      method: 'post',
      path: '/v1/jobs/{type}/bulk',
      summary: 'Enqueue many jobs of one type; all are validated before any is enqueued',
      access: 'job-type',
      // With a key, payload i's job id comes from "<key>/<i>": a replayed request enqueues nothing.
      parameters: [typeParam, idempotencyKey],
      requestBody: {
        required: true,
        ...json(
          { allOf: [ref('BulkJobsBody'), { properties: { payloads: { items: payloads } } }] },
          'Payloads of the job type',
        ),
      },
      responses: {
        202: json(
          { type: 'object', properties: { jobs: { type: 'array', items: ref('JobAccepted') } } },
          'Enqueued',
        ),
        400: badInput,
        409: keyConflict,
        404: problem('Unknown job type'),
      },
    },
    {
      method: 'get',
      path: '/v1/jobs/{job}',
      summary: 'Job status',
      access: 'read',
      parameters: [
        {
          name: 'job',
          in: 'path',
          required: true,
          description: 'The job id from the enqueue answer.',
          schema: { type: 'string' },
        },
      ],
      responses: {
        200: json(ref('JobStatus'), 'State, progress, attempts, result'),
        404: problem('No such job'),
      },
    },
    {
      method: 'post',
      path: '/v1/ingest/iocs',
      summary:
        "A collector's batch, split into iocs.insert jobs; with a watermark, the children of one watermark.commit flow",
      access: 'ingest',
      parameters: [idempotencyKey],
      requestBody: {
        required: true,
        ...json(
          {
            allOf: [ref('IngestBody'), { properties: { iocs: { items: ref('IngestIoc') } } }],
          },
          'The batch',
        ),
      },
      responses: {
        202: json({ type: 'object' }, 'Enqueued'),
        400: badInput,
        409: keyConflict,
        413: problem(`Body over API_BODY_LIMIT (${config.API_BODY_LIMIT})`),
        415: problem('Not JSON'),
      },
    },
    {
      method: 'get',
      path: '/v1/iocs/{type}/{value}',
      summary: 'Look an IOC up, cache first; `cached` says whether it hit',
      access: 'read',
      parameters: iocParams,
      responses: {
        200: json({ type: 'object' }, 'The IOC'),
        400: badInput,
        404: problem('Unknown IOC'),
      },
    },
    {
      method: 'delete',
      path: '/v1/cache/iocs/{type}/{value}',
      summary: 'Drop an IOC from the cache',
      access: 'ingest',
      parameters: iocParams,
      responses: { 200: json({ type: 'object' }, 'Whether it was cached'), 400: badInput },
    },
    {
      method: 'get',
      path: '/v1/cache/stats',
      summary: 'Cache hits, misses, hit rate and keys',
      access: 'read',
      responses: { 200: json({ type: 'object' }, 'Statistics') },
    },
    {
      method: 'get',
      path: '/api/v1/watermarks/{source_id}',
      summary: "A source's watermark (seed 001); 404 means first collection",
      access: 'read',
      parameters: [sourceId],
      responses: {
        200: json({ type: 'object' }, 'The watermark'),
        400: badInput,
        404: problem('No run recorded yet'),
      },
    },
    {
      method: 'put',
      path: '/api/v1/watermarks/{source_id}',
      summary: 'Record a collection run; the success timestamp only moves forward',
      access: 'ingest',
      parameters: [sourceId],
      requestBody: { required: true, ...json(ref('WatermarkPutBody'), 'The run') },
      responses: {
        200: json({ type: 'object' }, 'The watermark after the commit'),
        201: json({ type: 'object' }, 'The first watermark of the source'),
        400: badInput,
      },
    },
    {
      method: 'post',
      path: '/api/v1/watermarks/{source_id}/rewind',
      summary:
        'Move a watermark back to an earlier success timestamp (admin only); writes an audit row',
      access: 'admin',
      parameters: [sourceId],
      requestBody: {
        required: true,
        ...json(ref('WatermarkRewindBody'), 'The earlier timestamp and the reason'),
      },
      responses: {
        200: json({ type: 'object' }, 'The watermark after the rewind and its audit row'),
        400: badInput,
        404: problem('No run recorded yet'),
        409: problem('The timestamp is not before the current watermark'),
      },
    },
    {
      method: 'get',
      path: '/api/v1/watermarks/{source_id}/rewinds',
      summary: "A source's rewinds, newest first (who, when, from, to, why)",
      access: 'read',
      parameters: [sourceId],
      responses: { 200: json({ type: 'object' }, 'The audit rows'), 400: badInput },
    },
    {
      method: 'post',
      path: '/v1/maintenance/{job}',
      summary: 'Run a maintenance job now; `dry_run: true` only where the job has one',
      access: 'admin',
      parameters: [
        {
          name: 'job',
          in: 'path',
          required: true,
          schema: { type: 'string', enum: maintenance },
        },
      ],
      requestBody: {
        required: false,
        ...json({ anyOf: maintenance.map((n) => ref(payloadSchemaName(n))) }, 'The payload'),
      },
      responses: {
        202: json(ref('JobAccepted'), 'Enqueued'),
        400: badInput,
        404: problem('Not a maintenance job'),
      },
    },
  ];
}

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

function layOut(op: Operation, registry: JobRegistry): Json {
  const guarded = op.access !== 'public';
  return {
    summary: op.summary,
    ...(op.parameters ? { parameters: op.parameters } : {}),
    ...(op.requestBody ? { requestBody: op.requestBody } : {}),
    responses: {
      ...op.responses,
      ...(guarded
        ? {
            401: problem('Missing or unknown API key'),
            403: problem('The key lacks the scope (admin holds them all)'),
            503: problem('A backend is down'),
          }
        : {}),
    },
    ...security(op.access, registry),
  };
}

/** The OpenAPI 3.1 document of the api, built from the zod schemas its routes validate with. */
export function createOpenApiDocument(config: Config, registry: JobRegistry): OpenApiDocument {
  const schemas = requestSchemas(config, registry);
  const ioc = schemas['Ioc'];
  if (!ioc) throw new Error('the Ioc schema was not generated');
  const paths: OpenApiDocument['paths'] = {};
  for (const op of operations(config, registry)) {
    (paths[op.path] ??= {})[op.method] = layOut(op, registry);
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
      schemas: {
        ...schemas,
        IngestIoc: ingestIoc(ioc),
        Problem: PROBLEM_SCHEMA,
        JobAccepted: JOB_ACCEPTED_SCHEMA,
        JobStatus: JOB_STATUS_SCHEMA,
      },
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
