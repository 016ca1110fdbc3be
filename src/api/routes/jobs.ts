import { z } from 'zod';
import type { Config } from '../../config.js';
import {
  jobAcceptedSchema,
  jobCancelSchema,
  jobsAcceptedSchema,
  jobStatusSchema,
} from '../../domain/api/jobs.js';
import { hasScope } from '../../http/auth.js';
import type { JobRegistry } from '../../../jobs/job-registry.js';
import {
  enqueuableDefinition,
  enqueuePreparedJob,
  prepareJob,
} from '../../../queues/use-cases/enqueue-job.js';
import {
  bulkJobsBodySchema,
  enqueuePreparedJobs,
  prepareJobs,
} from '../../../queues/use-cases/enqueue-jobs.js';
import { findAndDescribeJob } from '../../../queues/use-cases/find-job.js';
import { cancelJob } from '../../../queues/use-cases/cancel-job.js';
import {
  badInput,
  idempotencyKeyHeader,
  json,
  keyConflict,
  payloadSchemaName,
  ref,
} from '../contract/openapi-fragments.js';
import { answerIdempotently, idempotentAnswer } from '../idempotent-request.js';
import { defineRoute, ok, problem, type Json, type RouteContext } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';
import { dashboardLinkOf } from '../../../queues/dashboard-link.js';

type JobDeps = Pick<ApiRouteDeps, 'registry' | 'producer' | 'jobQueues'> & {
  stores: Pick<ApiRouteDeps['stores'], 'idempotency' | 'redis'>;
};
const route = defineRoute<JobDeps>();

/** The headers of an enqueueing route. */
export const idempotencyHeaders = z.object({ 'Idempotency-Key': idempotencyKeyHeader });

/** The headers of `POST /v1/jobs/{type}`: an idempotency key and the job's own maximum duration. */
const enqueueHeaders = (config: Config) =>
  idempotencyHeaders.extend({
    'X-Job-Timeout-Ms': z.coerce
      .number()
      .int()
      .min(1_000)
      .max(config.JOB_TIMEOUT_MAX_MS)
      .optional()
      .describe(
        `This job's maximum duration per attempt (ms, 1000 to JOB_TIMEOUT_MAX_MS = ${config.JOB_TIMEOUT_MAX_MS}) instead of its type's; past it the attempt fails with job_timeout.`,
      ),
  });

/** Every job type's payload, as one anyOf of their components. */
const anyPayload = (registry: JobRegistry): Json => ({
  anyOf: registry.names().map((t) => ref(payloadSchemaName(t))),
});

/** The definition of the path's job type, if the caller may enqueue it (else 404 or 403). */
const definitionFor = (type: string, { caller, deps }: RouteContext<JobDeps>) =>
  enqueuableDefinition(deps.registry, type, (scope) => hasScope(caller, scope));

/** An idempotency key in the form the enqueue use cases take it. */
const inScope = (scoped: { key: string; scope: string } | undefined) =>
  scoped && { key: scoped.key, keyScope: scoped.scope };

/**
 * Enqueue one job, many of one type (queues/use-cases/enqueue-job(s).ts), and a job's
 * status (find-job.ts). Each job type's payload is a component.
 */
export function jobRouteTable(config: Config, registry: JobRegistry) {
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
  return [
    route({
      operationId: 'enqueue',
      method: 'post',
      // One template for POST and GET: OpenAPI forbids two that differ only in names.
      path: '/v1/jobs/{job}',
      summary: 'Enqueue one job after validating its payload',
      access: 'job-type',
      headers: enqueueHeaders(config),
      responses: {
        202: ok(jobAcceptedSchema, 'Enqueued (or the job an Idempotency-Key already made)'),
        400: badInput,
        409: keyConflict,
        404: problem('Unknown job type'),
        413: problem(`Body over API_BODY_LIMIT (${config.API_BODY_LIMIT})`),
        415: problem('Not JSON'),
      },
      openapi: {
        parameters: [{ ...typeParam, name: 'job' }],
        requestBody: { required: true, ...json(payloads, 'The payload of the job type') },
        components: Object.fromEntries(
          registry.definitions.map((d) => [payloadSchemaName(d.name), d.payload]),
        ),
      },
      handler: async ({ params, headers, body }, ctx) => {
        const definition = definitionFor(String(params.job), ctx);
        // Validated before the key is claimed: a refused body never binds it.
        const job = prepareJob(definition, body);
        const request = { type: job.definition.name, payload: job.payload };
        const key = headers['Idempotency-Key'];
        const route = 'POST /v1/jobs/{type}';
        const caller = ctx.caller?.name ?? '';
        const result = await answerIdempotently(
          ctx.deps.stores.idempotency,
          { caller, key, route, request },
          async (scoped) => {
            const view = await enqueuePreparedJob(
              ctx.deps.producer,
              job,
              inScope(scoped),
              headers['X-Job-Timeout-Ms'],
            );
            const status_url = `/v1/jobs/${view.id}`;
            return { status: 202, location: status_url, body: { ...view, status_url } };
          },
        );
        return idempotentAnswer(result);
      },
    }),
    route({
      operationId: 'enqueueBulk',
      method: 'post',
      path: '/v1/jobs/{type}/bulk',
      summary: 'Enqueue many jobs of one type; all are validated before any is enqueued',
      access: 'job-type',
      headers: idempotencyHeaders,
      responses: {
        202: ok(jobsAcceptedSchema, 'Enqueued'),
        400: badInput,
        409: keyConflict,
        404: problem('Unknown job type'),
      },
      openapi: {
        // With a key, payload i's job id comes from "<key>/<i>": a replayed request enqueues nothing.
        parameters: [typeParam],
        requestBody: {
          required: true,
          ...json(
            { allOf: [ref('BulkJobsBody'), { properties: { payloads: { items: payloads } } }] },
            'Payloads of the job type',
          ),
        },
        components: { BulkJobsBody: bulkJobsBodySchema },
      },
      handler: async ({ params, headers, body }, ctx) => {
        const definition = definitionFor(String(params.type), ctx);
        // Every payload is validated (all or nothing) before the key is claimed.
        const jobs = prepareJobs(definition, body);
        const request = { type: jobs.definition.name, payloads: jobs.payloads };
        const key = headers['Idempotency-Key'];
        const route = 'POST /v1/jobs/{type}/bulk';
        const caller = ctx.caller?.name ?? '';
        const result = await answerIdempotently(
          ctx.deps.stores.idempotency,
          { caller, key, route, request },
          async (scoped) => ({
            status: 202,
            body: await enqueuePreparedJobs(ctx.deps.producer, jobs, inScope(scoped)),
          }),
        );
        return idempotentAnswer(result);
      },
    }),
    route({
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
      handler: async ({ params }, { deps }) => {
        const { registry, jobQueues: queues } = deps;
        const dashboardLink = dashboardLinkOf(config);
        const job = await findAndDescribeJob(
          { registry, queues, dashboardLink },
          { id: String(params.job) },
        );
        // The view is looser than the documented schema (a state or id BullMQ may lack).
        return { status: 200, body: job as z.input<typeof jobStatusSchema> };
      },
    }),
    route({
      operationId: 'cancelJob',
      method: 'post',
      path: '/v1/jobs/{job}/cancel',
      summary: 'Cancel a job: removed if it has not started, aborted at its next await if it runs',
      access: 'admin',
      params: z.strictObject({ job: z.string().min(1).max(500).describe('The job id.') }),
      responses: {
        200: ok(jobCancelSchema, 'Removed (it had not started), or already cancelled'),
        202: ok(jobCancelSchema, 'Running: its worker aborts it; it then reads `cancelled`'),
        404: problem('No such job'),
        409: problem('The job already completed or failed'),
      },
      handler: async ({ params }, { deps, caller }) => {
        const { registry, jobQueues: queues } = deps;
        const cancelled = await cancelJob(
          { registry, queues, redis: deps.stores.redis },
          { id: params.job, by: caller?.name ?? 'api' },
        );
        const body = { ...cancelled, status_url: `/v1/jobs/${cancelled.id}` };
        return cancelled.state === 'cancelling' ? { status: 202, body } : { status: 200, body };
      },
    }),
  ];
}
