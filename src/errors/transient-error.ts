import type { ErrorCode } from './error-codes.js';
import { StowageError, type ErrorContext } from './stowage-error.js';

/** Worth retrying with backoff: connection refused, timeout, 5xx, throttling. */
export class TransientError extends StowageError {
  readonly kind = 'transient' as const;

  constructor(
    code: ErrorCode,
    message: string,
    context?: ErrorContext,
    options?: { cause?: unknown },
  ) {
    super(code, message, context, options);
  }
}
