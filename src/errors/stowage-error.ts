import type { ErrorCode, ErrorKind } from './error-codes.js';

/** Context a person needs to act on an error: bucket, key, queue, field… Never secrets. */
export type ErrorContext = Record<string, unknown>;

/** Base of every error Stowage raises on purpose: a stable code, a message, context. */
export abstract class StowageError extends Error {
  abstract readonly kind: ErrorKind;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly context: ErrorContext = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}
