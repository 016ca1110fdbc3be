import { z } from 'zod';

/** A configuration key: lower-case letters, digits, `. _ -`, 1..128, starting with a letter or digit. */
export const CONFIG_KEY_PATTERN = /^[a-z0-9][a-z0-9._-]{0,127}$/;

/** Largest configuration value, as UTF-8 JSON text (a settings document, not a data store). */
export const MAX_CONFIG_VALUE_BYTES = 64 * 1024;

/** Most keys one listing page returns. */
export const MAX_CONFIG_LIST_LIMIT = 1_000;

/** A configuration key, as the path names it. */
export const configKeySchema = z
  .string()
  .regex(
    CONFIG_KEY_PATTERN,
    'lower-case letters, digits, . _ - (1..128), starting with a letter or digit',
  );

/** A version number: 1 for a key's first value, one more for each write. */
export const configVersionSchema = z.int().min(1).max(2_147_483_647);

/**
 * The body of `PUT /v1/config/{key}`: the new value (any JSON) and the version it replaces
 * (0 or absent to create the key). A version that is not the current one is a 409.
 */
export const configPutBodySchema = z.strictObject({
  value: z
    .unknown()
    .refine((v) => v !== undefined, 'required (any JSON value, null included)')
    .describe(`Any JSON value, at most ${MAX_CONFIG_VALUE_BYTES} bytes as JSON text.`),
  version: z
    .int()
    .min(0)
    .max(2_147_483_647)
    .optional()
    .describe('The version this write replaces: 0 (or absent) creates the key.'),
});

/** One stored version of a key. */
export interface ConfigEntry {
  key: string;
  value: unknown;
  version: number;
  updated_at: Date;
  /** The name of the API key (or the operator) that wrote this version. */
  updated_by: string;
}

/** A key's current version without its value, as a listing shows it. */
export type ConfigKeySummary = Omit<ConfigEntry, 'value'>;

/** The size of a value as UTF-8 JSON text (what the store keeps). */
export function configValueBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}
