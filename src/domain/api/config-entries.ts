import { z } from 'zod';
import type { ConfigEntry, ConfigKeySummary } from '../config-entry.js';

/** `200` of `GET /v1/config/{key}` and of `PUT`: one version of a key. */
export const configEntryViewSchema = z.strictObject({
  key: z.string(),
  value: z.unknown().describe('The JSON value as written.'),
  version: z.int(),
  updated_at: z.string(),
  updated_by: z.string().describe('The API key (or operator) that wrote this version.'),
});

/** A key in a listing: its current version, without the value. */
export const configKeyViewSchema = configEntryViewSchema.omit({ value: true });

/** `200` of `GET /v1/config`: keys in order, and the cursor of the next page. */
export const configListSchema = z.strictObject({
  keys: z.array(configKeyViewSchema),
  next_cursor: z
    .string()
    .nullable()
    .describe('Pass as `cursor` for the next page; null on the last page.'),
});

/** A version of a key as the API shows it. */
export type ConfigEntryView = z.output<typeof configEntryViewSchema>;
/** A key of a listing as the API shows it. */
export type ConfigKeyView = z.output<typeof configKeyViewSchema>;
/** `GET /v1/config`'s answer. */
export type ConfigList = z.output<typeof configListSchema>;

/** A stored version as the API shows it: dates as ISO 8601. */
export function toConfigEntryView(entry: ConfigEntry): ConfigEntryView {
  return { ...entry, updated_at: entry.updated_at.toISOString() };
}

/** A listed key as the API shows it. */
export function toConfigKeyView(summary: ConfigKeySummary): ConfigKeyView {
  return { ...summary, updated_at: summary.updated_at.toISOString() };
}
