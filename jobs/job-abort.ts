import { PermanentError, TransientError, type StowageError } from '../src/errors/index.js';
import { DEFAULT_JOB_TIMEOUT, type AnyJobDefinition, type JobTimeout } from './job-definition.js';
import type { JobMeta } from './job-meta.js';

/**
 * The failed reason of a cancelled job starts with this (the runtime writes `<code>: …`):
 * BullMQ has no cancelled state, so readers tell a cancelled job from a failed one by it.
 */
export const CANCELLED_REASON_PREFIX = 'job_cancelled:';

/** The maximum duration of a job's attempts: its own (`$meta.timeout_ms`), else its type's. */
export function timeoutOf(definition: AnyJobDefinition, meta: JobMeta): JobTimeout {
  const declared = definition.timeout ?? DEFAULT_JOB_TIMEOUT;
  return meta.timeout_ms === undefined ? declared : { ...declared, ms: meta.timeout_ms };
}

/** What an attempt past its maximum duration ends with: retryable or not, as its type declares. */
export function jobTimeoutError(type: string, timeout: JobTimeout): StowageError {
  const message = `${type} ran past ${timeout.ms} ms`;
  const context = { type, timeoutMs: timeout.ms };
  return timeout.retryable
    ? new TransientError('job_timeout', message, context)
    : new PermanentError('job_timeout', message, context);
}

/** What a cancelled attempt ends with: permanent, so BullMQ does not retry it. */
export function jobCancelledError(reason: unknown): PermanentError {
  const said = typeof reason === 'string' && reason !== '' ? reason : 'cancelled';
  return new PermanentError('job_cancelled', said.slice(0, 500));
}

/** Whether a failed job's reason says it was cancelled. */
export function isCancelledReason(failedReason: string | null | undefined): boolean {
  return typeof failedReason === 'string' && failedReason.startsWith(CANCELLED_REASON_PREFIX);
}

/** The state readers see: a failed job that was cancelled is `cancelled`. */
export function readerState(state: string, failedReason: string | null | undefined): string {
  return state === 'failed' && isCancelledReason(failedReason) ? 'cancelled' : state;
}
