/**
 * The OpenAPI document checked against the express app it describes: the routes the app
 * really registers (found by walking its router stack), the job registry, and the problem
 * documents src/http/problem.ts writes. No services: the app is built over stubs and never
 * handles a request.
 */
import type { Express, Response } from 'express';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createApp } from '../../src/api/app.js';
import { createOpenApiDocument, payloadSchemaName } from '../../src/api/openapi.js';
import { HttpProblem, problemHandler } from '../../src/http/problem.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { ValidationError } from '../../src/errors/index.js';
import { createJobRegistry } from '../../jobs/registry.js';

type Json = Record<string, unknown>;

const config = loadConfig({ LOG_LEVEL: 'silent', INGEST_MAX_IOCS: '123' });
const registry = createJobRegistry();
const doc = createOpenApiDocument(config, registry);
const HTTP_METHODS = ['get', 'post', 'put', 'delete', 'patch', 'head', 'options'];

/** An app over stubs: routes read their dependencies only when a request comes. */
function stubApp(): Express {
  return createApp({
    config,
    deps: {} as never,
    log: createLogger(config),
    registry,
    producer: {} as never,
    queues: {} as never,
    dashboard: false,
  });
}

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  slash?: boolean;
  name?: string;
}

/** `METHOD /path/{}` for every route in the app's router stack, parameter names erased. */
function registeredRoutes(app: Express): string[] {
  const found: string[] = [];
  const walk = (stack: Layer[]) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const [method, on] of Object.entries(layer.route.methods)) {
          if (on && method !== '_all') found.push(`${method} ${erase(layer.route.path)}`);
        }
      } else if (layer.handle?.stack) {
        // Paths only add up when every router is mounted at the root.
        expect(layer.slash, `router ${layer.name ?? ''} mounted below /`).toBe(true);
        walk(layer.handle.stack);
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return found.sort();
}

/** `/a/:x/b` and `/a/{y}/b` both become `/a/{}/b`. */
const erase = (path: string) => path.replace(/:\w+/g, '{}').replace(/\{\w+\}/g, '{}');

function documentedRoutes(): string[] {
  return Object.entries(doc.paths)
    .flatMap(([path, item]) =>
      Object.keys(item)
        .filter((m) => HTTP_METHODS.includes(m))
        .map((m) => `${m} ${erase(path)}`),
    )
    .sort();
}

function operations(): [string, string, Json][] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]): [string, string, Json] => [path, method, op]),
  );
}

function refsIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) refsIn(v, out);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refsIn(v, out);
    }
  }
  return out;
}

const component = (name: string): Json => {
  const schema = doc.components.schemas[name];
  if (!schema) throw new Error(`no component schema ${name}`);
  return schema;
};

describe('OpenAPI document', () => {
  it('is an OpenAPI 3.1 document with info, paths, components and both security schemes', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toBe('Stowage');
    expect(doc.info.version).not.toBe('');
    expect(Object.keys(doc.paths).length).toBeGreaterThan(0);
    expect(doc.components.securitySchemes).toMatchObject({
      bearerAuth: { type: 'http', scheme: 'bearer' },
      basicAuth: { type: 'http', scheme: 'basic' },
    });
    // a component is a schema, not a standalone JSON Schema document
    for (const [name, schema] of Object.entries(doc.components.schemas))
      expect(Object.keys(schema), name).not.toContain('$schema');
  });

  it('documents exactly the routes the express app registers, with their methods', () => {
    const registered = registeredRoutes(stubApp());
    expect(registered.length).toBeGreaterThan(10);
    expect(registered).toContain('get /openapi.json');
    expect(documentedRoutes()).toEqual(registered);
  });

  it('declares each path parameter of a template, and no other', () => {
    const wrong: string[] = [];
    for (const [path, method, op] of operations()) {
      const inTemplate = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      const declared = ((op.parameters ?? []) as Json[])
        .filter((p) => p.in === 'path')
        .map((p) => p.name)
        .sort();
      if (JSON.stringify(inTemplate) !== JSON.stringify(declared))
        wrong.push(
          `${method} ${path}: template ${inTemplate.join(',')} declared ${declared.join(',')}`,
        );
    }
    expect(wrong).toEqual([]);
  });

  it('resolves every $ref to a component schema', () => {
    const dangling = refsIn(doc).filter((r) => {
      const name = /^#\/components\/schemas\/([\w.-]+)$/.exec(r)?.[1];
      return name === undefined || !(name in doc.components.schemas);
    });
    expect(refsIn(doc).length).toBeGreaterThan(0);
    expect(dangling).toEqual([]);
  });

  it("has every registered job type's payload schema, offered by POST /v1/jobs/{job}", () => {
    const enqueue = doc.paths['/v1/jobs/{job}']?.['post'] as Json;
    const bodyRefs = refsIn(enqueue['requestBody']);
    const typeParam = (enqueue['parameters'] as Json[]).find((p) => p.name === 'job');
    for (const definition of registry.definitions) {
      const name = payloadSchemaName(definition.name);
      const documented = component(name);
      const direct = z.toJSONSchema(definition.payload, { io: 'input', unrepresentable: 'any' });
      expect(Object.keys(documented.properties ?? {}), definition.name).toEqual(
        Object.keys(direct.properties ?? {}),
      );
      expect(documented.required, definition.name).toEqual(direct.required);
      expect(bodyRefs, definition.name).toContain(`#/components/schemas/${name}`);
      expect((typeParam?.schema as Json).enum, definition.name).toContain(definition.name);
    }
  });

  it('takes request schemas from the routes, with their configured limits', () => {
    expect((component('IngestBody').properties as Json)['iocs']).toMatchObject({ maxItems: 123 });
    expect((component('PresignBody').properties as Json)['expires_in']).toMatchObject({
      maximum: config.PRESIGN_MAX_SECONDS,
    });
    // the one difference of an ingest record: the route fills in source
    expect(component('Ioc').required).toContain('source');
    expect(component('IngestIoc').required).not.toContain('source');
  });

  it('answers 202 with the job, and 4xx as problem+json, on the enqueue routes', () => {
    for (const path of ['/v1/jobs/{job}', '/v1/maintenance/{job}']) {
      const responses = doc.paths[path]?.['post']?.['responses'] as Record<string, Json>;
      expect(refsIn(responses['202']), path).toEqual(['#/components/schemas/JobAccepted']);
      for (const status of ['400', '401', '403', '404'])
        expect(Object.keys(responses[status]?.['content'] as Json), `${path} ${status}`).toEqual([
          'application/problem+json',
        ]);
    }
  });

  it('needs a key (Bearer or Basic) and names the scope everywhere but health, ready, metrics and the document', () => {
    const open = ['/health', '/ready', '/metrics', '/openapi.json'];
    for (const [path, method, op] of operations()) {
      if (open.includes(path)) {
        expect(op.security, `${method} ${path}`).toEqual([]);
        continue;
      }
      const schemes = (op.security as Json[]).map((s) => Object.keys(s)[0]);
      expect(schemes, `${method} ${path}`).toEqual(['bearerAuth', 'basicAuth']);
      expect(op['x-stowage-scope'], `${method} ${path}`).toBeDefined();
    }
    const read = doc.paths['/v1/jobs/{job}']?.['get'] as Json;
    expect(read.security).toEqual([{ bearerAuth: ['read'] }, { basicAuth: ['read'] }]);
    const enqueue = doc.paths['/v1/jobs/{job}']?.['post'] as Json;
    expect(enqueue['x-stowage-scope']).toMatchObject({ 'iocs.insert': 'ingest' });
  });

  it('describes the problem documents src/http/problem.ts writes', () => {
    const problem = component('Problem');
    const properties = Object.keys(problem.properties as Json);
    const handle = problemHandler(createLogger(config));
    for (const err of [
      new HttpProblem(404, 'not_found', 'no such thing'),
      new ValidationError([{ path: 'a', message: 'bad' }]),
    ]) {
      let sent = '';
      const res = {
        headersSent: false,
        status: () => res,
        type: () => res,
        send: (body: string) => {
          sent = body;
          return res;
        },
      };
      handle(err, {} as never, res as unknown as Response, () => undefined);
      const body = JSON.parse(sent) as Json;
      expect(Object.keys(body).filter((k) => !properties.includes(k))).toEqual([]);
      for (const key of problem.required as string[]) expect(body).toHaveProperty(key);
    }
  });
});
