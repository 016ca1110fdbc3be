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
    const at = (path: PropertyKey[]) =>
      [...(prefix ? [prefix] : []), ...path.map(String)].join('.');
    return new ValidationError(
      // A strict schema reports every unknown key in one issue; name each key on its own.
      error.issues.flatMap((issue) =>
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((key) => ({ path: at([...issue.path, key]), message: 'unknown key' }))
          : [{ path: at(issue.path), message: issue.message }],
      ),
    );
  }
}
