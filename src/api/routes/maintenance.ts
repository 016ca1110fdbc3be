import { jobAcceptedSchema } from '../../domain/api/jobs.js';
import { PermanentError } from '../../errors/index.js';
import { HttpProblem } from '../../http/problem.js';
import type { JobRegistry } from '../../../jobs/job-registry.js';
import { maintenanceJobs } from '../../../jobs/maintenance-jobs.js';
import { runMaintenance } from '../../../queues/use-cases/run-maintenance.js';
import { badInput, json, payloadSchemaName, ref } from '../contract/openapi-fragments.js';
import { defineRoute, ok, problem } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';

const route = defineRoute<Pick<ApiRouteDeps, 'registry' | 'producer'>>();

/**
 * `POST /v1/maintenance/{job}`: runs a maintenance job now (admin). The body is the job's
 * payload; `dry_run` is required for a job that can dry-run, refused for one that cannot.
 */
export function maintenanceRouteTable(registry: JobRegistry) {
  const maintenance = maintenanceJobs(registry.definitions).map((d) => d.name);
  return [
    route({
      operationId: 'runMaintenance',
      method: 'post',
      path: '/v1/maintenance/{job}',
      summary: 'Run a maintenance job now; `dry_run: true` only where the job has one',
      access: 'admin',
      responses: {
        202: ok(jobAcceptedSchema, 'Enqueued'),
        400: badInput,
        404: problem('Not a maintenance job'),
      },
      openapi: {
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
      },
      handler: async ({ params, body }, { deps }) => {
        const job = String(params.job);
        const run = await runMaintenance(deps, { job, payload: body }).catch((err: unknown) => {
          throw err instanceof PermanentError && err.code === 'unknown_job_type'
            ? new HttpProblem(404, err.code, err.message, [
                { path: 'job', message: `one of ${knownOf(err) || '(none registered)'}` },
              ])
            : err;
        });
        const status_url = `/v1/jobs/${run.id}`;
        return {
          status: 202,
          headers: { Location: status_url },
          body: { id: run.id, type: run.type, queue: run.queue, status_url },
        };
      },
    }),
  ];
}

/** The runnable jobs an `unknown_job_type` error lists. */
function knownOf(err: PermanentError): string {
  const known = err.context['known'];
  return Array.isArray(known) ? known.join(', ') : '';
}
