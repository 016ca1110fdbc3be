/**
 * The document generated from the route table (src/api/routes.ts) names every operation and
 * gives every success a real schema; the problem's code is the error-code catalogue.
 */
import { describe, expect, it } from 'vitest';
import { createOpenApiDocument } from '../../src/api/openapi.js';
import { apiRouteTable } from '../../src/api/routes.js';
import { loadConfig } from '../../src/config.js';
import { ERROR_CODES, ERROR_CODE_NAMES } from '../../src/errors/index.js';
import { createJobRegistry } from '../../jobs/registry.js';

type Json = Record<string, unknown>;

const config = loadConfig({ LOG_LEVEL: 'silent' });
const registry = createJobRegistry();
const doc = createOpenApiDocument(config, registry);

function operations(): [string, Json][] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]): [string, Json] => [`${method} ${path}`, op]),
  );
}

/** A component's schema for a $ref, the schema itself otherwise. */
function resolve(schema: Json): Json {
  const target = typeof schema.$ref === 'string' ? schema.$ref : '';
  const name = /^#\/components\/schemas\/(.+)$/.exec(target)?.[1];
  if (name === undefined) return schema;
  const found = doc.components.schemas[name];
  if (!found) throw new Error(`no component ${name}`);
  return found;
}

/** Says something about the body beyond "an object". */
function isRealSchema(schema: Json): boolean {
  const keys = Object.keys(schema).filter((k) => k !== 'description');
  if (keys.length === 0) return false;
  if (schema.type === 'object') {
    return ['properties', 'additionalProperties', 'propertyNames'].some((k) => k in schema);
  }
  return true;
}

describe('the OpenAPI document of the route table', () => {
  it('gives every operation a unique operationId', () => {
    const ids = operations().map(([, op]) => op.operationId);
    for (const id of ids) expect(typeof id).toBe('string');
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toContain('getWatermark');
    expect(ids).toContain('lookupIoc');
  });

  it('gives every 2xx answer a schema with properties or a type other than a bare object', () => {
    const bare: string[] = [];
    for (const [name, op] of operations()) {
      for (const [status, response] of Object.entries(op.responses as Record<string, Json>)) {
        if (!status.startsWith('2')) continue;
        const content = (response.content ?? {}) as Record<string, { schema?: Json }>;
        const schemas = Object.values(content).map((c) => c.schema);
        if (schemas.length === 0 || schemas.some((s) => !s || !isRealSchema(resolve(s))))
          bare.push(`${name} ${status}`);
      }
    }
    expect(bare).toEqual([]);
  });

  it('answers every error with a Problem whose code is the error-code catalogue', () => {
    const problem = doc.components.schemas['Problem'] as { properties: Record<string, Json> };
    expect(problem.properties['code']?.enum).toEqual(ERROR_CODE_NAMES);
    expect(problem.properties['code']?.['x-stowage-error-codes']).toEqual(ERROR_CODES);
    for (const [name, op] of operations()) {
      for (const [status, response] of Object.entries(op.responses as Record<string, Json>)) {
        if (Number(status) < 400) continue;
        const content = response.content as Record<string, { schema: Json }>;
        expect(Object.keys(content), `${name} ${status}`).toEqual(['application/problem+json']);
        expect(content['application/problem+json']?.schema, `${name} ${status}`).toEqual({
          $ref: '#/components/schemas/Problem',
        });
      }
    }
  });

  it('documents each row of the table once, at its method and path', () => {
    const rows = apiRouteTable(config, registry);
    for (const row of rows) {
      expect(doc.paths[row.path]?.[row.method]?.operationId, row.operationId).toBe(row.operationId);
    }
    expect(operations().length).toBe(rows.length);
  });
});
