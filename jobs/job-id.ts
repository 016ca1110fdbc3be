import { createHash, randomUUID } from 'node:crypto';

/*
 * A job id is `<type>.<suffix>`: the type tells the status route which queue holds the job
 * without searching, and the suffix never contains a dot. BullMQ forbids `:` and integer ids.
 */

/**
 * The namespace of keys given by in-process applications (`producer.enqueue(…, {idempotencyKey})`):
 * they have no API key, so they share this one, apart from every API caller's.
 */
export const APP_KEY_SCOPE = 'app';

/**
 * The namespace of an `Idempotency-Key` sent to the api: the caller (API key name), the route
 * and the SHA-256 of the request, so two callers, two routes or two bodies never share a job.
 */
export function apiKeyScope(caller: string, route: string, requestDigest: string): string {
  return JSON.stringify(['api', caller, route, requestDigest]);
}

/**
 * The id of a job with an idempotency key: the same key in the same scope always gives the
 * same id. Without a scope the key is one a job type derives from its payload (a natural key,
 * the same whoever enqueues it).
 */
export function jobIdForKey(type: string, key: string, scope?: string): string {
  const material = scope === undefined ? key : JSON.stringify([scope, key]);
  return `${type}.k${createHash('sha256').update(material).digest('hex').slice(0, 40)}`;
}

/** A fresh id for a job without an idempotency key. */
export function newJobId(type: string): string {
  return `${type}.${randomUUID()}`;
}

/** The id of a scheduler tick: every replica derives the same id for the same tick. */
export function jobIdForTick(type: string, tick: Date): string {
  return `${type}.tick-${Math.floor(tick.getTime() / 1000)}`;
}

/** The type a job id belongs to, or undefined when it is not a Stowage id. */
export function typeOfJobId(id: string): string | undefined {
  const dot = id.lastIndexOf('.');
  return dot > 0 ? id.slice(0, dot) : undefined;
}
