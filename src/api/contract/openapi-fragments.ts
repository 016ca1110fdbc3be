import { z } from 'zod';
import { idempotencyKeySchema } from '../../domain/idempotency-key.js';
import { problem, type Json } from '../route.js';

/**
 * A request body is JSON, so a Date a producer hands in reaches the API as an ISO string;
 * other shapes JSON cannot carry (transforms, custom checks) document their input side.
 */
export const JSON_SCHEMA_OPTIONS = {
  target: 'draft-2020-12',
  io: 'input',
  unrepresentable: 'any',
  override: ({ zodSchema, jsonSchema }) => {
    if (zodSchema._zod.def.type === 'date') {
      jsonSchema.type = 'string';
      jsonSchema.format = 'date-time';
    }
  },
} satisfies z.core.ToJSONSchemaParams;

/** A schema without the given keys (a component is a schema, not a JSON Schema document). */
export function withoutKeys(schema: object, keys: string[]): Json {
  return Object.fromEntries(Object.entries(schema).filter(([k]) => !keys.includes(k)));
}

/** A reference to a component schema. */
export const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });

/** A JSON request or response body of the given schema. */
export const json = (schema: Json, description: string): Json => ({
  description,
  content: { 'application/json': { schema } },
});

/** The component name of a job type's payload: `iocs.insert` → `IocsInsertPayload`. */
export function payloadSchemaName(jobName: string): string {
  const words = jobName.split(/[.-]/).map((w) => w.charAt(0).toUpperCase() + w.slice(1));
  return `${words.join('')}Payload`;
}

/** JSON Schema of a parameter's zod schema, inlined (parameters are small). */
export function parameterSchema(schema: z.ZodType): Json {
  return withoutKeys(z.toJSONSchema(schema, JSON_SCHEMA_OPTIONS), ['$schema']);
}

/** A path parameter of a zod schema. */
export function pathParam(name: string, schema: z.ZodType, description: string): Json {
  return { name, in: 'path', required: true, description, schema: parameterSchema(schema) };
}

/** A 400 answer: bad input. */
export const badInput = problem('Bad input; `errors` names each failing field');

/** A 409 answer: an Idempotency-Key bound to another request. */
export const keyConflict = problem('Idempotency-Key already used with another request body');

/** The `Idempotency-Key` header of the enqueueing routes, a field of their `headers` schema. */
export const idempotencyKeyHeader = idempotencyKeySchema
  .optional()
  .describe(
    'Scoped to the API key and the route, and bound to the request body (SHA-256) for IDEMPOTENCY_TTL_HOURS: the same key with the same body answers as the first time (header Idempotent-Replayed: true), even after the job was removed; with another body it is a 409 idempotency_conflict.',
  );
