import type { z } from 'zod';
import { PermanentError } from './permanent-error.js';

/** One failing field: its path (`iocs.3.confidence`) and what is wrong with it. */
export interface FieldIssue {
  path: string;
  message: string;
}

/** Input that does not match its schema; names every failing field. */
export class ValidationError extends PermanentError {
  constructor(
    readonly issues: FieldIssue[],
    message = `invalid input: ${issues.map((i) => `${i.path || '(body)'}: ${i.message}`).join('; ')}`,
  ) {
    super('invalid_payload', message, { fields: issues.map((i) => i.path) });
  }

  /** Builds the error from a zod failure, with dotted paths under an optional prefix. */
  static fromZod(error: z.ZodError, prefix?: string): ValidationError {
    return new ValidationError(
      error.issues.map((issue) => ({
        path: [...(prefix ? [prefix] : []), ...issue.path.map(String)].join('.'),
        message: issue.message,
      })),
    );
  }
}
