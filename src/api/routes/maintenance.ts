import { Router } from 'express';
import { z } from 'zod';
import { ValidationError } from '../../errors/index.js';
import type { AnyJobDefinition } from '../../../jobs/job-definition.js';
import type { JobRegistry } from '../../../jobs/job-registry.js';
import type { Producer } from '../../../queues/producer.js';
import { requireScope } from '../auth.js';
import { HttpProblem } from '../problem.js';

/** Jobs an operator may run now, outside their schedule. */
export const MAINTENANCE_JOBS = [
  'archive.lock',
  'retention.cleanup',
  'uploads.abort-stale',
  'cache.promote',
];

// Any other field is the job's payload, checked by its own strict schema.
const body = z.object({ dry_run: z.boolean().optional() }).loose();

/** Whether a job type's payload takes `dry_run` (a schema without it strips the key). */
export function supportsDryRun(definition: AnyJobDefinition): boolean {
  const parsed = definition.payload.safeParse({ ...(definition.fixture as object), dry_run: true });
  return parsed.success && (parsed.data as { dry_run?: unknown }).dry_run === true;
}

/**
 * `POST /v1/maintenance/{job}`: runs a maintenance job now (admin). The body is the job's
 * payload; `dry_run: true` is refused, naming the field, for a job that cannot dry-run.
 */
export function maintenanceRoutes(
  registry: JobRegistry,
  producer: Producer<readonly AnyJobDefinition[]>,
): Router {
  const router = Router();
  router.post('/v1/maintenance/:job', requireScope('admin'), async (req, res) => {
    const name = String(req.params.job);
    const definition = MAINTENANCE_JOBS.includes(name) ? registry.get(name) : undefined;
    if (!definition) {
      const known = MAINTENANCE_JOBS.filter((n) => registry.get(n));
      throw new HttpProblem(404, 'unknown_job_type', `no maintenance job "${name}"`, [
        { path: 'job', message: `one of ${known.join(', ') || '(none registered)'}` },
      ]);
    }
    const parsed = body.safeParse(req.body ?? {});
    if (!parsed.success) throw ValidationError.fromZod(parsed.error);
    const canDryRun = supportsDryRun(definition);
    if (parsed.data.dry_run === true && !canDryRun) {
      throw new ValidationError([{ path: 'dry_run', message: `${name} has no dry run` }]);
    }
    // A destructive run is never the default of a missing or mistyped field: the operator
    // says dry_run false to delete. Reported together with the payload's own problems.
    if (canDryRun && parsed.data.dry_run === undefined) {
      const payload = definition.payload.safeParse(parsed.data);
      throw new ValidationError([
        { path: 'dry_run', message: 'required: true to report only, false to run for real' },
        ...(payload.success ? [] : ValidationError.fromZod(payload.error).issues),
      ]);
    }
    // The job's own strict schema then refuses any other unknown key, naming it.
    const job = await producer.enqueueByName(name, parsed.data);
    res
      .status(202)
      .location(`/v1/jobs/${job.id}`)
      .json({ id: job.id, type: name, queue: job.queue, status_url: `/v1/jobs/${job.id}` });
  });
  return router;
}
