import { Router, type Request } from 'express';
import { z } from 'zod';
import type { Job } from 'bullmq';
import { ValidationError } from '../../errors/index.js';
import type { JobRegistry } from '../../../jobs/job-registry.js';
import { typeOfJobId } from '../../../jobs/job-id.js';
import type { Producer } from '../../../queues/producer.js';
import type { QueueSet } from '../../../queues/queue-set.js';
import { CHECKPOINT_KEY } from '../../../workers/job-runner.js';
import type { AnyJobDefinition } from '../../../jobs/job-definition.js';
import type { EnqueuedJob } from '../../../queues/producer.js';
import type { RedisIdempotencyStore } from '../../stores/redis/idempotency-store.js';
import { hasScope, requireScope, type Caller } from '../auth.js';
import { answerIdempotently, sendIdempotentResult } from '../idempotent-request.js';
import { HttpProblem } from '../problem.js';
import { redactJobData, redactText } from '../redact.js';

/** Largest number of payloads one bulk request may carry. */
export const MAX_BULK_JOBS = 1_000;

/**
 * The Idempotency-Key header: per API key and route, bound to the request's SHA-256 for
 * IDEMPOTENCY_TTL_HOURS (see answerIdempotently).
 */
export const idempotencyKeySchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, 'visible ASCII characters only');

/** The body of `POST /v1/jobs/{type}/bulk`; each payload is then checked by the job type. */
export const bulkJobsBodySchema = z.strictObject({
  payloads: z.array(z.unknown()).min(1).max(MAX_BULK_JOBS),
});

/** The Idempotency-Key header, validated, or undefined. */
export function readIdempotencyKey(req: Request): string | undefined {
  const raw = req.header('idempotency-key');
  if (raw === undefined) return undefined;
  const parsed = idempotencyKeySchema.safeParse(raw);
  if (!parsed.success) throw ValidationError.fromZod(parsed.error, 'Idempotency-Key');
  return parsed.data;
}

/** A payload checked by its job type's schema; `path` prefixes its errors (`payloads.3`). */
function parsePayload(definition: AnyJobDefinition, payload: unknown, path?: string): unknown {
  const parsed = definition.payload.safeParse(payload);
  if (!parsed.success) throw ValidationError.fromZod(parsed.error, path);
  return parsed.data;
}

const jobView = (job: EnqueuedJob) => ({ id: job.id, type: job.name, queue: job.queue });

/**
 * What the status route says about a job. The caller reads the state before the job, so
 * the fields shown are at least as new as the state (a job failing in between would
 * otherwise show "failed" without its reason).
 */
export async function describeJob(job: Job, state: string) {
  const dependencies = await job.getDependenciesCount();
  const childCount = Object.values(dependencies).reduce((sum: number, n) => sum + (n ?? 0), 0);
  const payload = { ...(job.data as Record<string, unknown>) };
  delete payload[CHECKPOINT_KEY];
  // Readers see no spool file name, URL query or secret-shaped field (src/api/redact.ts).
  return {
    id: job.id,
    type: job.name,
    queue: job.queueName,
    state,
    progress: job.progress,
    attempts_made: job.attemptsMade,
    max_attempts: job.opts.attempts ?? 1,
    return_value: redactJobData(job.returnvalue) ?? null,
    failed_reason: job.failedReason ? redactText(job.failedReason) : null,
    created_at: new Date(job.timestamp).toISOString(),
    processed_at: job.processedOn ? new Date(job.processedOn).toISOString() : null,
    finished_at: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
    ...(childCount > 0 ? { children: dependencies } : {}),
    payload: redactJobData(payload),
  };
}

/** Generic enqueue of any registered job type, and job status. */
export function jobRoutes(
  registry: JobRegistry,
  producer: Producer<readonly AnyJobDefinition[]>,
  queues: QueueSet,
  idempotency: RedisIdempotencyStore,
): Router {
  const router = Router();

  const definitionFor = (type: string) => {
    const definition = registry.get(type);
    if (!definition) {
      throw new HttpProblem(404, 'unknown_job_type', `no job type "${type}"`, [
        {
          path: 'type',
          message: `unknown job type (known: ${registry.names().join(', ') || 'none'})`,
        },
      ]);
    }
    return definition;
  };

  const enqueuable = (type: string, caller: Caller | undefined) => {
    const definition = definitionFor(type);
    if (!hasScope(caller, definition.scope)) {
      throw new HttpProblem(
        403,
        'forbidden',
        `enqueueing ${definition.name} needs the "${definition.scope}" scope`,
      );
    }
    return definition;
  };

  router.post('/v1/jobs/:type', async (req, res) => {
    const definition = enqueuable(req.params.type, res.locals.caller);
    const key = readIdempotencyKey(req);
    // Validated before the key is claimed: a refused body never binds it.
    const payload = parsePayload(definition, req.body);
    const request = { type: definition.name, payload };
    const result = await answerIdempotently(
      res,
      idempotency,
      { key, route: 'POST /v1/jobs/{type}', request },
      async (scoped) => {
        const job = await producer.enqueueByName(definition.name, payload, {
          validated: true,
          ...(scoped === undefined ? {} : { idempotencyKey: scoped.key, keyScope: scoped.scope }),
        });
        return {
          status: 202,
          location: `/v1/jobs/${job.id}`,
          body: { ...jobView(job), status_url: `/v1/jobs/${job.id}` },
        };
      },
    );
    sendIdempotentResult(res, result);
  });

  router.post('/v1/jobs/:type/bulk', async (req, res) => {
    const definition = enqueuable(req.params.type, res.locals.caller);
    const key = readIdempotencyKey(req);
    const body = bulkJobsBodySchema.safeParse(req.body);
    if (!body.success) throw ValidationError.fromZod(body.error);
    // Every payload is validated (all or nothing) before the key is claimed.
    const payloads = body.data.payloads.map((p, i) => parsePayload(definition, p, `payloads.${i}`));
    const result = await answerIdempotently(
      res,
      idempotency,
      { key, route: 'POST /v1/jobs/{type}/bulk', request: { type: definition.name, payloads } },
      async (scoped) => {
        // One key for the request: each payload's job id comes from it and the payload's index.
        const jobs = await producer.enqueueBulkByName(
          definition.name,
          payloads,
          scoped === undefined
            ? { validated: true }
            : {
                validated: true,
                idempotencyKeys: payloads.map((_, i) => `${scoped.key}/${i}`),
                keyScope: scoped.scope,
              },
        );
        return { status: 202, body: { jobs: jobs.map(jobView) } };
      },
    );
    sendIdempotentResult(res, result);
  });

  router.get('/v1/jobs/:id', requireScope('read'), async (req, res) => {
    const id = String(req.params.id);
    const type = typeOfJobId(id);
    const definition = type === undefined ? undefined : registry.get(type);
    const queue = definition ? queues.get(definition.queue) : undefined;
    const state = queue ? await queue.getJobState(id) : 'unknown';
    const job = queue && state !== 'unknown' ? await queue.getJob(id) : undefined;
    if (!job)
      throw new HttpProblem(404, 'not_found', `no job "${id}"`, [
        { path: 'id', message: 'no such job' },
      ]);
    res.json(await describeJob(job, state));
  });

  return router;
}
