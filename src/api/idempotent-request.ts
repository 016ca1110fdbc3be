import { apiKeyScope } from '../../jobs/job-id.js';
import {
  requestDigest,
  type RedisIdempotencyStore,
  type StoredAnswer,
} from '../stores/redis/idempotency-store.js';
import { HttpProblem } from '../http/problem.js';

/** The header a replayed answer carries (as Stripe's API does). */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

/** What a route hands its enqueue when the request has a key: the key and its namespace. */
export interface ScopedKey {
  key: string;
  /** For EnqueueOptions.keyScope: the caller, the route and the request's digest. */
  scope: string;
}

/** What answerIdempotently decided: the answer to send, and whether it is a replay. */
export interface IdempotentResult {
  answer: StoredAnswer;
  replayed: boolean;
}

/** One request to answer at most once per key. */
export interface IdempotentRequest {
  /** The name of the API key that sent it (authentication runs first on every /v1 route). */
  caller: string;
  /** The validated Idempotency-Key, or undefined (then `enqueue` simply runs). */
  key: string | undefined;
  /** The route as documented, e.g. `POST /v1/jobs/{type}`. */
  route: string;
  /** What the request asks for (path parameters and body): its SHA-256 binds the key. */
  request: unknown;
  /** requestDigest(request), when the route computed it already (a large batch's costs). */
  digest?: string;
}

/**
 * The key and namespace `answerIdempotently` hands its enqueue for this request, known
 * before it runs (undefined without a key): a route may name the job before the body ends.
 */
export function scopedKeyOf(request: IdempotentRequest): ScopedKey | undefined {
  const { key, route, caller } = request;
  if (key === undefined) return undefined;
  return { key, scope: apiKeyScope(caller, route, requestDigest(request.request)) };
}

/**
 * Answers a request that carries an Idempotency-Key: the same key from the same API key on
 * the same route with the same request gets the first answer again (even after its job was
 * removed), with another request a 409 `idempotency_conflict`. The record is claimed
 * atomically before `enqueue` runs and freed again when `enqueue` throws (a refused payload,
 * a backend down), so a failed request never locks its key. The route then answers with
 * idempotentAnswer.
 */
export async function answerIdempotently(
  store: RedisIdempotencyStore,
  request: IdempotentRequest,
  enqueue: (key: ScopedKey | undefined) => Promise<StoredAnswer>,
): Promise<IdempotentResult> {
  const { key, route, caller } = request;
  if (key === undefined) return { answer: await enqueue(undefined), replayed: false };
  const digest = request.digest ?? requestDigest(request.request);
  const id = { caller, route, key };
  const claim = await store.claim(id, digest);
  if (claim.outcome === 'conflict') {
    throw new HttpProblem(
      409,
      'idempotency_conflict',
      `Idempotency-Key "${key}" was already used by this API key on ${route} with a different request; send a new key for a new request`,
      [{ path: 'Idempotency-Key', message: 'already bound to a different request body' }],
    );
  }
  if (claim.outcome === 'replay') return { answer: claim.answer, replayed: true };
  let answer: StoredAnswer;
  try {
    answer = await enqueue({ key, scope: apiKeyScope(caller, route, digest) });
  } catch (err) {
    // Best effort: with Redis away the claim stays, and a retry with this body still proceeds.
    await store.release(id, digest).catch(() => undefined);
    throw err;
  }
  await store.answer(id, digest, answer);
  return { answer, replayed: false };
}

/**
 * The answer of an idempotent request: its status, body and Location; a replay carries the
 * Idempotent-Replayed header. Every enqueueing route answers 202, so a stored answer is one.
 */
export function idempotentAnswer<B>({ answer, replayed }: IdempotentResult): {
  status: 202;
  body: B;
  headers: Record<string, string>;
} {
  // A body that reports `replayed` says so on a replay too; every replay has the header.
  const body =
    replayed && 'replayed' in answer.body ? { ...answer.body, replayed: true } : answer.body;
  return {
    status: answer.status as 202,
    body: body as B,
    headers: {
      ...(replayed ? { [REPLAYED_HEADER]: 'true' } : {}),
      ...(answer.location === undefined ? {} : { Location: answer.location }),
    },
  };
}
