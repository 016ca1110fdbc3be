import { z } from 'zod';
import type {
  DeadLetterView,
  DeadLetterPageView,
  DeadLetterRetried,
} from '../../src/domain/api/dead-letters.js';
import { unboundedTimestampSchema } from '../../src/domain/timestamp.js';
import { ConflictError, NotFoundError } from '../../src/errors/index.js';
import type { DeadLetter, DeadLetterStore } from '../../src/stores/postgres/dead-letter-store.js';
import { jobIdForKey } from '../../jobs/job-id.js';
import type { JobRegistry } from '../../jobs/job-registry.js';
import { redactJobData } from '../../jobs/redact.js';
import type { QueueSet } from '../queue-set.js';

/** Largest page a list answers. */
export const MAX_DEAD_LETTER_PAGE = 1_000;

const filterFields = {
  queue: z.string().min(1).max(100).optional().describe('Only this queue.'),
  type: z.string().min(1).max(100).optional().describe('Only this job type.'),
  tenant: z.string().min(1).max(200).optional().describe("Only this tenant's jobs ($meta.tenant)."),
  since: unboundedTimestampSchema.optional().describe('Dead-lettered at or after this instant.'),
};

/** The query of `GET /v1/dead-letters`. */
export const deadLetterListQuerySchema = z.strictObject({
  ...filterFields,
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_DEAD_LETTER_PAGE)
    .default(50)
    .describe(`Page size, at most ${MAX_DEAD_LETTER_PAGE}.`),
  cursor: z
    .string()
    .regex(/^[1-9][0-9]{0,18}$/, 'not a cursor this api gave')
    .optional()
    .describe('`next_cursor` of the previous page.'),
});

/** The body of `POST /v1/dead-letters/purge`: which dead letters go (all: `{ "all": true }`). */
export const deadLetterPurgeBodySchema = z
  .strictObject({
    ...filterFields,
    before: unboundedTimestampSchema.optional().describe('Dead-lettered before this instant.'),
    all: z.boolean().optional().describe('Purge with no filter: every dead letter.'),
  })
  .refine(
    (b) =>
      b.all === true || [b.queue, b.type, b.tenant, b.since, b.before].some((v) => v !== undefined),
    { message: 'name a filter, or "all": true to purge every dead letter' },
  );

/** The path of a dead-letter route. */
export const deadLetterIdSchema = z
  .string()
  .regex(/^[1-9][0-9]{0,18}$/, 'a dead letter id is a decimal number');

type Store = Pick<
  DeadLetterStore,
  'list' | 'get' | 'markRetried' | 'remove' | 'purge' | 'restageBatch'
>;

/** A dead letter as readers see it: data redacted (no spool file name, URL query or secret). */
export function deadLetterView(d: DeadLetter): DeadLetterView {
  return {
    id: d.id,
    queue: d.queue,
    job_id: d.jobId,
    type: d.type,
    data: redactJobData(d.data),
    meta: d.meta ?? null,
    tenant: d.tenant,
    failure_code: d.failureCode,
    reason: d.reason,
    stack: d.stack,
    attempts_made: d.attemptsMade,
    max_attempts: d.maxAttempts,
    enqueued_at: d.enqueuedAt.toISOString(),
    failed_at: d.failedAt.toISOString(),
    dead_lettered_at: d.deadLetteredAt.toISOString(),
    retried_at: d.retriedAt?.toISOString() ?? null,
    retry_job_id: d.retryJobId,
  };
}

/** A page of dead letters, newest first. */
export async function listDeadLetters(
  query: z.output<typeof deadLetterListQuerySchema>,
  deps: { deadLetters: Pick<Store, 'list'> },
): Promise<DeadLetterPageView> {
  const page = await deps.deadLetters.list(
    { queue: query.queue, type: query.type, tenant: query.tenant, since: query.since },
    { cursor: query.cursor, limit: query.limit },
  );
  return { dead_letters: page.items.map(deadLetterView), next_cursor: page.nextCursor };
}

const notFound = (id: string) => new NotFoundError(`no dead letter ${id}`, { id });

/** One dead letter; a NotFoundError when there is none. */
export async function getDeadLetter(
  input: { id: string },
  deps: { deadLetters: Pick<Store, 'get'> },
): Promise<DeadLetterView> {
  const found = await deps.deadLetters.get(input.id);
  if (!found) throw notFound(input.id);
  return deadLetterView(found);
}

/** The namespace of the job ids of dead-letter retries. */
const RETRY_KEY_SCOPE = 'dead-letters';

/**
 * Retries a dead letter, once: the original job again when it still sits failed in its
 * queue with this failure (BullMQ keeps its id, logs and attempts), else a new job of the
 * same type with the same stored data, under an id derived from the dead letter, so two
 * retries racing enqueue one job. A claim-checked job's batch is staged again under the new
 * id first. The first retry is recorded (retried_at, the job id); a later one answers it.
 */
export async function retryDeadLetter(
  input: { id: string },
  deps: { deadLetters: Store; queues: QueueSet; registry: JobRegistry },
): Promise<DeadLetterRetried> {
  const found = await deps.deadLetters.get(input.id);
  if (!found) throw notFound(input.id);
  const answer = (d: DeadLetter, retried: boolean): DeadLetterRetried => ({
    retried,
    job_id: d.retryJobId ?? '',
    status_url: `/v1/jobs/${d.retryJobId ?? ''}`,
    dead_letter: deadLetterView(d),
  });
  if (found.retryJobId !== null) return answer(found, false);
  const definition = deps.registry.get(found.type);
  if (!definition || definition.queue !== found.queue) {
    throw new ConflictError(
      `dead letter ${found.id}: job type "${found.type}" is not served here`,
      {
        id: found.id,
        type: found.type,
      },
    );
  }
  const queue = deps.queues.get(definition.queue);
  const original = await queue.getJob(found.jobId);
  let jobId: string;
  if (
    original &&
    original.attemptsMade === found.attemptsMade &&
    (await original.getState()) === 'failed'
  ) {
    jobId = found.jobId;
    await original.retry('failed').catch(async (err: unknown) => {
      // Another retry moved it first: that one records itself.
      if ((await original.getState()) === 'failed') throw err;
    });
  } else {
    jobId = jobIdForKey(found.type, `dead-letter:${found.id}`, RETRY_KEY_SCOPE);
    const batch = batchOf(found.data);
    if (batch) await deps.deadLetters.restageBatch(found.jobId, jobId, batch.digest);
    // The data as the job stored it ($meta included): already validated when first enqueued.
    await queue.add(found.type, found.data, {
      ...deps.queues.jobDefaults(definition.queue),
      ...definition.options,
      jobId,
    });
  }
  const after = await deps.deadLetters.markRetried(found.id, jobId);
  if (!after) throw notFound(input.id);
  return answer(after, after.retryJobId === jobId);
}

/** Removes one dead letter (its batch, if any, becomes the sweep's); NotFoundError when gone. */
export async function removeDeadLetter(
  input: { id: string },
  deps: { deadLetters: Pick<Store, 'remove'> },
): Promise<{ purged: number }> {
  if (!(await deps.deadLetters.remove(input.id))) throw notFound(input.id);
  return { purged: 1 };
}

/** Removes every dead letter the filter covers. */
export async function purgeDeadLetters(
  body: z.output<typeof deadLetterPurgeBodySchema>,
  deps: { deadLetters: Pick<Store, 'purge'> },
): Promise<{ purged: number }> {
  const { queue, type, tenant, since, before } = body;
  return { purged: await deps.deadLetters.purge({ queue, type, tenant, since, before }) };
}

/** The batch reference of a claim-checked job's stored data, if it is one. */
function batchOf(data: unknown): { digest: string } | undefined {
  if (data === null || typeof data !== 'object') return undefined;
  const batch = (data as { batch?: unknown }).batch;
  if (batch === null || typeof batch !== 'object') return undefined;
  const digest = (batch as { digest?: unknown }).digest;
  return typeof digest === 'string' ? { digest } : undefined;
}
