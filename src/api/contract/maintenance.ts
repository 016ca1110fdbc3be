import { jobAcceptedSchema } from '../../domain/api/jobs.js';
import type { JobRegistry } from '../../../jobs/job-registry.js';
import { maintenanceJobs } from '../../../jobs/maintenance-jobs.js';
import { ok, problem, type ContractOnlyRoute } from '../route.js';
import { badInput } from './jobs.js';
import { json, payloadSchemaName, ref } from './openapi-fragments.js';

/** The contract of src/api/routes/maintenance.ts (served by its express router): run a job now. */
export function maintenanceContract(registry: JobRegistry): ContractOnlyRoute[] {
  const maintenance = maintenanceJobs(registry.definitions).map((d) => d.name);
  return [
    {
      servedBy: 'express-router',
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
    },
  ];
}
