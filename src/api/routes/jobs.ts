import { Router, type Request } from 'express';
import { idempotencyKeySchema } from '../../domain/idempotency-key.js';
import { ValidationError } from '../../errors/index.js';
import type { JobRegistry } from '../../../jobs/job-registry.js';
import type { Producer } from '../../../queues/producer.js';
import type { QueueSet } from '../../../queues/queue-set.js';
import type { AnyJobDefinition } from '../../../jobs/job-definition.js';
import {
  enqueuableDefinition,
  enqueuePreparedJob,
  prepareJob,
} from '../../../queues/use-cases/enqueue-job.js';
import { enqueuePreparedJobs, prepareJobs } from '../../../queues/use-cases/enqueue-jobs.js';
import { findAndDescribeJob } from '../../../queues/use-cases/find-job.js';
import type { RedisIdempotencyStore } from '../../stores/redis/idempotency-store.js';
import { hasScope, requireScope } from '../../http/auth.js';
import { answerIdempotently, sendIdempotentResult } from '../idempotent-request.js';

export { idempotencyKeySchema } from '../../domain/idempotency-key.js';
export { MAX_BULK_JOBS, bulkJobsBodySchema } from '../../../queues/use-cases/enqueue-jobs.js';
export { describeJob } from '../../../queues/use-cases/find-job.js';

/** The Idempotency-Key header, validated, or undefined. */
export function readIdempotencyKey(req: Request): string | undefined {
  const raw = req.header('idempotency-key');
  if (raw === undefined) return undefined;
  const parsed = idempotencyKeySchema.safeParse(raw);
  if (!parsed.success) throw ValidationError.fromZod(parsed.error, 'Idempotency-Key');
  return parsed.data;
}

/** Generic enqueue of any registered job type, and job status (queues/use-cases/*). */
export function jobRoutes(
  registry: JobRegistry,
  producer: Producer<readonly AnyJobDefinition[]>,
  queues: QueueSet,
  idempotency: RedisIdempotencyStore,
): Router {
  const router = Router();

  router.post('/v1/jobs/:type', async (req, res) => {
    const mayUse = (scope: Parameters<typeof hasScope>[1]) => hasScope(res.locals.caller, scope);
    const definition = enqueuableDefinition(registry, req.params.type, mayUse);
    const key = readIdempotencyKey(req);
    // Validated before the key is claimed: a refused body never binds it.
    const job = prepareJob(definition, req.body);
    const request = { type: job.definition.name, payload: job.payload };
    const result = await answerIdempotently(
      res,
      idempotency,
      { key, route: 'POST /v1/jobs/{type}', request },
      async (scoped) => {
        const view = await enqueuePreparedJob(
          producer,
          job,
          scoped && { key: scoped.key, keyScope: scoped.scope },
        );
        const status_url = `/v1/jobs/${view.id}`;
        return { status: 202, location: status_url, body: { ...view, status_url } };
      },
    );
    sendIdempotentResult(res, result);
  });

  router.post('/v1/jobs/:type/bulk', async (req, res) => {
    const mayUse = (scope: Parameters<typeof hasScope>[1]) => hasScope(res.locals.caller, scope);
    const definition = enqueuableDefinition(registry, req.params.type, mayUse);
    const key = readIdempotencyKey(req);
    // Every payload is validated (all or nothing) before the key is claimed.
    const jobs = prepareJobs(definition, req.body);
    const request = { type: jobs.definition.name, payloads: jobs.payloads };
    const result = await answerIdempotently(
      res,
      idempotency,
      { key, route: 'POST /v1/jobs/{type}/bulk', request },
      async (scoped) => ({
        status: 202,
        body: await enqueuePreparedJobs(
          producer,
          jobs,
          scoped && { key: scoped.key, keyScope: scoped.scope },
        ),
      }),
    );
    sendIdempotentResult(res, result);
  });

  router.get('/v1/jobs/:id', requireScope('read'), async (req, res) => {
    res.json(await findAndDescribeJob({ registry, queues }, { id: String(req.params.id) }));
  });

  return router;
}
