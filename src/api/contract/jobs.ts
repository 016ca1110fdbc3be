import type { Config } from '../../config.js';
import { jobAcceptedSchema, jobsAcceptedSchema, jobStatusSchema } from '../../domain/api/jobs.js';
import type { JobRegistry } from '../../../jobs/job-registry.js';
import { ok, problem, type ContractOnlyRoute, type Json } from '../route.js';
import { bulkJobsBodySchema, idempotencyKeySchema } from '../routes/jobs.js';
import { json, parameterSchema, payloadSchemaName, ref } from './openapi-fragments.js';

/** The `Idempotency-Key` header of the enqueueing routes. */
export const idempotencyKeyHeader = (): Json => ({
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Scoped to the API key and the route, and bound to the request body (SHA-256) for IDEMPOTENCY_TTL_HOURS: the same key with the same body answers as the first time (header Idempotent-Replayed: true), even after the job was removed; with another body it is a 409 idempotency_conflict.',
  schema: parameterSchema(idempotencyKeySchema),
});

export const badInput = problem('Bad input; `errors` names each failing field');
export const keyConflict = problem('Idempotency-Key already used with another request body');

/** Every job type's payload, as one anyOf of their components. */
export const anyPayload = (registry: JobRegistry): Json => ({
  anyOf: registry.names().map((t) => ref(payloadSchemaName(t))),
});

/**
 * The contract of src/api/routes/jobs.ts (served by its express router): enqueue one job,
 * many of one type, and a job's status. Each job type's payload is a component.
 */
export function jobContract(config: Config, registry: JobRegistry): ContractOnlyRoute[] {
  const payloads = anyPayload(registry);
  const typeList = registry.definitions
    .map((d) => `- \`${d.name}\` (queue ${d.queue}, scope ${d.scope}): ${d.description}`)
    .join('\n');
  const typeParam = {
    name: 'type',
    in: 'path',
    required: true,
    description: `The job type; the request body is its payload.\n\n${typeList}`,
    schema: { type: 'string', enum: registry.names() },
  };
  const idempotencyKey = idempotencyKeyHeader();
  return [
    {
      servedBy: 'express-router',
      operationId: 'enqueue',
      method: 'post',
      // One template for POST and GET: OpenAPI forbids two that differ only in names.
      path: '/v1/jobs/{job}',
      summary: 'Enqueue one job after validating its payload',
      access: 'job-type',
      responses: {
        202: ok(jobAcceptedSchema, 'Enqueued (or the job an Idempotency-Key already made)'),
        400: badInput,
        409: keyConflict,
        404: problem('Unknown job type'),
        413: problem(`Body over API_BODY_LIMIT (${config.API_BODY_LIMIT})`),
        415: problem('Not JSON'),
      },
      openapi: {
        parameters: [{ ...typeParam, name: 'job' }, idempotencyKey],
        requestBody: { required: true, ...json(payloads, 'The payload of the job type') },
        components: Object.fromEntries(
          registry.definitions.map((d) => [payloadSchemaName(d.name), d.payload]),
        ),
      },
    },
    {
      servedBy: 'express-router',
      operationId: 'enqueueBulk',
      method: 'post',
      path: '/v1/jobs/{type}/bulk',
      summary: 'Enqueue many jobs of one type; all are validated before any is enqueued',
      access: 'job-type',
      body: bulkJobsBodySchema,
      responses: {
        202: ok(jobsAcceptedSchema, 'Enqueued'),
        400: badInput,
        409: keyConflict,
        404: problem('Unknown job type'),
      },
      openapi: {
        // With a key, payload i's job id comes from "<key>/<i>": a replayed request enqueues nothing.
        parameters: [typeParam, idempotencyKey],
        requestBody: {
          required: true,
          ...json(
            { allOf: [ref('BulkJobsBody'), { properties: { payloads: { items: payloads } } }] },
            'Payloads of the job type',
          ),
        },
        components: { BulkJobsBody: bulkJobsBodySchema },
      },
    },
    {
      servedBy: 'express-router',
      operationId: 'getJob',
      method: 'get',
      path: '/v1/jobs/{job}',
      summary: 'Job status',
      access: 'read',
      responses: {
        200: ok(jobStatusSchema, 'State, progress, attempts, result'),
        404: problem('No such job'),
      },
      openapi: {
        parameters: [
          {
            name: 'job',
            in: 'path',
            required: true,
            description: 'The job id from the enqueue answer.',
            schema: { type: 'string' },
          },
        ],
      },
    },
  ];
}
