import type { Config } from '../../config.js';
import {
  jobPageSchema,
  jobRemovedSchema,
  jobSearchQuerySchema,
} from '../../domain/api/job-search.js';
import { hasScope } from '../../http/auth.js';
import { dashboardLinkOf } from '../../../queues/dashboard-link.js';
import { listJobs } from '../../../queues/use-cases/list-jobs.js';
import { removeJob } from '../../../queues/use-cases/remove-job.js';
import { defineRoute, ok, problem } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';

type JobSearchDeps = Pick<ApiRouteDeps, 'registry' | 'producer' | 'jobQueues'>;
const route = defineRoute<JobSearchDeps>();

/**
 * Find jobs by type, state, tenant, tag and time across every queue (the search index,
 * src/stores/redis/job-search-index.ts), and remove one.
 */
export function jobSearchRouteTable(config: Config) {
  const link = dashboardLinkOf(config);
  return [
    route({
      operationId: 'listJobs',
      method: 'get',
      path: '/v1/jobs',
      summary:
        "Jobs by type, state, tenant, tag and enqueue time, newest first, across queues; a key without admin sees only its tenant's",
      access: 'read',
      query: jobSearchQuerySchema,
      responses: {
        200: ok(jobPageSchema, 'A page, newest first'),
        400: problem('Bad input; `errors` names each failing field'),
        403: problem("Another tenant's jobs (a key without admin)"),
      },
      handler: async ({ query }, { caller, deps }) => {
        const q = query;
        const page = await listJobs(
          { queues: deps.jobQueues, search: deps.producer.search, dashboardLink: link },
          {
            type: q.type,
            state: q.state,
            tenant: q.tenant,
            tag: q.tag,
            since: q.since,
            cursor: q.cursor,
            limit: q.limit,
          },
          { tenant: caller?.tenant, admin: hasScope(caller, 'admin') },
        );
        // The views are looser than the documented schema (a state or id BullMQ may lack).
        return { status: 200, body: page as never };
      },
    }),
    route({
      operationId: 'removeJob',
      method: 'delete',
      // The template of POST enqueue and GET status: OpenAPI forbids two differing in names.
      path: '/v1/jobs/{job}',
      summary: 'Remove a job that is not running (with its flow children) and its search entries',
      access: 'admin',
      responses: {
        200: ok(jobRemovedSchema, 'Removed'),
        404: problem('No such job'),
        409: problem('The job is running (cancel it) or a worker took it meanwhile'),
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
        const { registry, jobQueues: queues, producer } = deps;
        const removed = await removeJob(
          { registry, queues, search: producer.search },
          { id: String((params as { job: unknown }).job) },
        );
        return { status: 200, body: removed };
      },
    }),
  ];
}
