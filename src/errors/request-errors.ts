import { PermanentError } from './permanent-error.js';
import type { ErrorContext } from './stowage-error.js';
import type { FieldIssue } from './validation-error.js';

/**
 * What a use case answers when the thing asked for does not exist (a job id, a watermark,
 * an artifact). The API maps it to 404 (with `issues` as the problem's `errors`); the CLI
 * prints it and exits non-zero.
 */
export class NotFoundError extends PermanentError {
  constructor(
    message: string,
    context?: ErrorContext,
    readonly issues?: FieldIssue[],
  ) {
    super('not_found', message, context);
  }
}

/** The caller may not act on this (another caller's job, a scope it lacks): 403. */
export class ForbiddenError extends PermanentError {
  constructor(
    message: string,
    context?: ErrorContext,
    readonly issues?: FieldIssue[],
  ) {
    super('forbidden', message, context);
  }
}

/** The request contradicts what is stored (a reused key with another body, say): 409. */
export class ConflictError extends PermanentError {
  constructor(
    message: string,
    context?: ErrorContext,
    readonly issues?: FieldIssue[],
  ) {
    super('conflict', message, context);
  }
}
