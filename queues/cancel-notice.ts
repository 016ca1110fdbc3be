/**
 * How a cancel reaches the worker running a job: BullMQ's `Worker.cancelJob` aborts the
 * processor's signal, but only inside the process that runs the job. The cancel use case
 * therefore stores a mark (for an attempt that starts later: a job given back after a
 * crash) and publishes a notice every worker host hears on one channel.
 */

/** One cancel, as published. */
export interface CancelNotice {
  queue: string;
  id: string;
  /** What the job's failed reason says after `job_cancelled:` (who cancelled it). */
  reason: string;
}

/** How long a cancel mark is kept: longer than any job waits to be given back after a crash. */
export const CANCEL_MARK_TTL_MS = 24 * 60 * 60_000;

/** The pub/sub channel of a queue prefix's cancels. */
export const cancelChannel = (prefix: string) => `${prefix}:cancels`;

/** The key marking one job as cancelled. */
export const cancelMarkKey = (prefix: string, queue: string, id: string) =>
  `${prefix}:cancel:${queue}:${id}`;

/** A published message as a notice, or undefined for anything else on the channel. */
export function parseCancelNotice(message: string): CancelNotice | undefined {
  try {
    const value = JSON.parse(message) as Partial<CancelNotice> | null;
    if (
      value &&
      typeof value.queue === 'string' &&
      typeof value.id === 'string' &&
      typeof value.reason === 'string'
    ) {
      return { queue: value.queue, id: value.id, reason: value.reason };
    }
  } catch {
    // Not ours: ignored.
  }
  return undefined;
}
