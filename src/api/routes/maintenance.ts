import { Router } from 'express';
import { PermanentError } from '../../errors/index.js';
import type { AnyJobDefinition } from '../../../jobs/job-definition.js';
import type { JobRegistry } from '../../../jobs/job-registry.js';
import type { Producer } from '../../../queues/producer.js';
import { runMaintenance } from '../../../queues/use-cases/run-maintenance.js';
import { requireScope } from '../../http/auth.js';
import { HttpProblem } from '../../http/problem.js';

/**
 * `POST /v1/maintenance/{job}`: runs a maintenance job now (admin). The body is the job's
 * payload; `dry_run` is required for a job that can dry-run, refused for one that cannot.
 */
export function maintenanceRoutes(
  registry: JobRegistry,
  producer: Producer<readonly AnyJobDefinition[]>,
): Router {
  const router = Router();
  router.post('/v1/maintenance/:job', requireScope('admin'), async (req, res) => {
    const job = String(req.params.job);
    const run = await runMaintenance({ registry, producer }, { job, payload: req.body }).catch(
      (err: unknown) => {
        throw err instanceof PermanentError && err.code === 'unknown_job_type'
          ? new HttpProblem(404, err.code, err.message, [
              { path: 'job', message: `one of ${knownOf(err) || '(none registered)'}` },
            ])
          : err;
      },
    );
    res
      .status(202)
      .location(`/v1/jobs/${run.id}`)
      .json({ id: run.id, type: run.type, queue: run.queue, status_url: `/v1/jobs/${run.id}` });
  });
  return router;
}

/** The runnable jobs an `unknown_job_type` error lists. */
function knownOf(err: PermanentError): string {
  const known = err.context['known'];
  return Array.isArray(known) ? known.join(', ') : '';
}
