import { z } from 'zod';
import { ERROR_CODES, ERROR_CODE_NAMES } from '../../errors/error-codes.js';

/** One failing field of a bad request: its path and what is wrong with it. */
export const fieldIssueSchema = z.strictObject({ path: z.string(), message: z.string() });

/** An RFC 9457 problem document, as the API's error middleware writes it. */
export const problemSchema = z.strictObject({
  type: z.url(),
  title: z.string(),
  status: z.int().min(400).max(599),
  detail: z.string(),
  code: z.enum(ERROR_CODE_NAMES).meta({
    description: 'Stable error code; x-stowage-error-codes gives its kind and HTTP status.',
    'x-stowage-error-codes': ERROR_CODES,
  }),
  errors: z.array(fieldIssueSchema).describe('Each failing field of a bad request.').optional(),
  current_version: z
    .int()
    .describe('A stale write (409 of PUT /v1/config/{key}): the version to name (0: no such key).')
    .optional(),
});
