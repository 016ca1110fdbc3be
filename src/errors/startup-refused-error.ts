import type { ErrorCode } from './error-codes.js';
import { PermanentError } from './permanent-error.js';

/**
 * A process that must not start as configured: its schema is missing or older than this
 * build needs, or production settings are unsafe. The message is one line, for the operator.
 */
export class StartupRefusedError extends PermanentError {
  constructor(code: ErrorCode, message: string) {
    super(code, message);
    this.name = 'StartupRefusedError';
  }
}
