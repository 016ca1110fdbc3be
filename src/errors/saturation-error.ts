import type { ErrorCode } from './error-codes.js';
import type { ErrorContext } from './stowage-error.js';
import { TransientError } from './transient-error.js';

/** How long a saturated sink is left alone when it suggests nothing itself. */
export const DEFAULT_SATURATION_DELAY_MS = 1_000;

/**
 * A sink saying it is saturated (S3 SlowDown, ClickHouse too many parts, PostgreSQL out of
 * connections or locks, Redis out of memory): transient, and with a suggested delay, because
 * the remedy is to send it less for a while, not to spend the job's retries hammering it.
 * The code stays the backend's usual one (storage_unavailable, backend_busy…).
 */
export class SaturationError extends TransientError {
  /** How long to hold off before the sink is asked again. */
  readonly retryAfterMs: number;

  constructor(
    code: ErrorCode,
    message: string,
    context?: ErrorContext,
    options?: { cause?: unknown; retryAfterMs?: number },
  ) {
    super(code, message, { ...context, saturated: true }, options);
    this.retryAfterMs = options?.retryAfterMs ?? DEFAULT_SATURATION_DELAY_MS;
  }
}

/** True for an error that says its sink is saturated. */
export function isSaturation(err: unknown): err is SaturationError {
  return err instanceof SaturationError;
}
