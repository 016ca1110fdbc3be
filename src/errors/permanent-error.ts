import type { ErrorCode } from './error-codes.js';
import { StowageError, type ErrorContext } from './stowage-error.js';

/**
 * Retrying cannot help: invalid payload, checksum mismatch, access denied, a bucket without
 * Object Lock. The worker fails the job at once.
 */
export class PermanentError extends StowageError {
  readonly kind = 'permanent' as const;

  constructor(
    code: ErrorCode,
    message: string,
    context?: ErrorContext,
    options?: { cause?: unknown },
  ) {
    super(code, message, context, options);
  }
}
