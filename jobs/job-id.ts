import { createHash, randomUUID } from 'node:crypto';

/*
 * A job id is `<type>.<suffix>`: the type tells the status route which queue holds the job
 * without searching, and the suffix never contains a dot. BullMQ forbids `:` and integer ids.
 */

/** The id of a job with an idempotency key: the same key always gives the same id. */
export function jobIdForKey(type: string, key: string): string {
  return `${type}.k${createHash('sha256').update(key).digest('hex').slice(0, 40)}`;
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
