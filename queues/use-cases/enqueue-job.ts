import type { Scope } from '../../src/config.js';
import { ForbiddenError, PermanentError, ValidationError } from '../../src/errors/index.js';
import type { AnyJobDefinition } from '../../jobs/job-definition.js';
import type { JobRegistry } from '../../jobs/job-registry.js';
import type { EnqueuedJob, Producer } from '../producer.js';

/** Whether the caller holds a scope (the API checks its key; in-process callers hold all). */
export type ScopeCheck = (scope: Scope) => boolean;

/** A job as an enqueue answers it. */
export interface JobView {
  id: string;
  type: string;
  queue: string;
}

/** An idempotency key and its namespace (see EnqueueOptions.keyScope). */
export interface KeyInScope {
  key: string;
  keyScope: string;
}

/** The view of an enqueued job. */
export const jobView = (job: EnqueuedJob): JobView => ({
  id: job.id,
  type: job.name,
  queue: job.queue,
});

/**
 * The definition of a type the caller may enqueue: an unknown type is a PermanentError
 * `unknown_job_type` naming `type`, a type whose scope the caller lacks a ForbiddenError.
 */
export function enqueuableDefinition(
  registry: JobRegistry,
  type: string,
  mayUse: ScopeCheck,
): AnyJobDefinition {
  const definition = registry.get(type);
  if (!definition) {
    throw new PermanentError('unknown_job_type', `no job type "${type}"`, {
      errors: [
        {
          path: 'type',
          message: `unknown job type (known: ${registry.names().join(', ') || 'none'})`,
        },
      ],
    });
  }
  if (!mayUse(definition.scope)) {
    throw new ForbiddenError(`enqueueing ${definition.name} needs the "${definition.scope}" scope`);
  }
  return definition;
}

/** A payload checked by its job type's schema; `path` prefixes its errors (`payloads.3`). */
export function parsePayload(
  definition: AnyJobDefinition,
  payload: unknown,
  path?: string,
): unknown {
  const parsed = definition.payload.safeParse(payload);
  if (!parsed.success) throw ValidationError.fromZod(parsed.error, path);
  return parsed.data;
}

/** A job checked against its type and the caller's scopes, ready to enqueue. */
export interface PreparedJob {
  definition: AnyJobDefinition;
  payload: unknown;
}

/** Checks a payload against its type; nothing is enqueued (an adapter may claim a key first). */
export function prepareJob(definition: AnyJobDefinition, payload: unknown): PreparedJob {
  return { definition, payload: parsePayload(definition, payload) };
}

/** Enqueues a prepared job; with a key, its id derives from the key (one job per key). */
export async function enqueuePreparedJob(
  producer: Producer<readonly AnyJobDefinition[]>,
  job: PreparedJob,
  scoped?: KeyInScope,
  /** The job's own maximum duration (ms), instead of its type's. */
  timeoutMs?: number,
): Promise<JobView> {
  const enqueued = await producer.enqueueByName(job.definition.name, job.payload, {
    validated: true,
    ...(scoped === undefined ? {} : { idempotencyKey: scoped.key, keyScope: scoped.keyScope }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
  return jobView(enqueued);
}

/** Enqueues one job of any registered type: check, then enqueue. */
export async function enqueueJob(
  deps: { registry: JobRegistry; producer: Producer<readonly AnyJobDefinition[]> },
  input: { type: string; payload: unknown; mayUse: ScopeCheck; scoped?: KeyInScope },
): Promise<JobView> {
  const definition = enqueuableDefinition(deps.registry, input.type, input.mayUse);
  const job = prepareJob(definition, input.payload);
  return enqueuePreparedJob(deps.producer, job, input.scoped);
}
