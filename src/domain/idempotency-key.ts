import { z } from 'zod';

/**
 * An idempotency key (the API's Idempotency-Key header, the CLI's --idempotency-key): per
 * API key and route, bound to the request's SHA-256 for IDEMPOTENCY_TTL_HOURS.
 */
export const idempotencyKeySchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, 'visible ASCII characters only');
