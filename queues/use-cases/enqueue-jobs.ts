import { z } from 'zod';
import { ValidationError } from '../../src/errors/index.js';
import type { AnyJobDefinition } from '../../jobs/job-definition.js';
import type { JobRegistry } from '../../jobs/job-registry.js';
import type { Producer } from '../producer.js';
import {
  enqueuableDefinition,
  jobView,
  parsePayload,
  type JobView,
  type KeyInScope,
  type ScopeCheck,
} from './enqueue-job.js';

/** Largest number of payloads one bulk enqueue may carry. */
export const MAX_BULK_JOBS = 1_000;

/** A bulk enqueue's body; each payload is then checked by the job type. */
export const bulkJobsBodySchema = z.strictObject({
  payloads: z.array(z.unknown()).min(1).max(MAX_BULK_JOBS),
});

/** Jobs of one type checked all or nothing, ready to enqueue. */
export interface PreparedJobs {
  definition: AnyJobDefinition;
  payloads: unknown[];
}

/** Checks the body and every payload (errors name `payloads.<i>`); nothing is enqueued. */
export function prepareJobs(definition: AnyJobDefinition, input: unknown): PreparedJobs {
  const body = bulkJobsBodySchema.safeParse(input);
  if (!body.success) throw ValidationError.fromZod(body.error);
  const payloads = body.data.payloads.map((p, i) => parsePayload(definition, p, `payloads.${i}`));
  return { definition, payloads };
}

/**
 * Enqueues prepared jobs in one round trip; with a key, each payload's job id comes from the
 * key and the payload's index.
 */
export async function enqueuePreparedJobs(
  producer: Producer<readonly AnyJobDefinition[]>,
  jobs: PreparedJobs,
  scoped?: KeyInScope,
): Promise<{ jobs: JobView[] }> {
  const enqueued = await producer.enqueueBulkByName(
    jobs.definition.name,
    jobs.payloads,
    scoped === undefined
      ? { validated: true }
      : {
          validated: true,
          idempotencyKeys: jobs.payloads.map((_, i) => `${scoped.key}/${i}`),
          keyScope: scoped.keyScope,
        },
  );
  return { jobs: enqueued.map(jobView) };
}

/** Enqueues many jobs of one type: check all, then enqueue all. */
export async function enqueueJobs(
  deps: { registry: JobRegistry; producer: Producer<readonly AnyJobDefinition[]> },
  input: { type: string; body: unknown; mayUse: ScopeCheck; scoped?: KeyInScope },
): Promise<{ jobs: JobView[] }> {
  const definition = enqueuableDefinition(deps.registry, input.type, input.mayUse);
  const jobs = prepareJobs(definition, input.body);
  return enqueuePreparedJobs(deps.producer, jobs, input.scoped);
}
