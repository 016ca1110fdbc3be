import { describe, expect, it } from 'vitest';
import { createOpenApiDocument } from '../../src/api/openapi.js';
import { decideRoute, guardedRoutes } from '../../src/api/route-access.js';
import { loadConfig } from '../../src/config.js';
import { createJobRegistry } from '../../jobs/registry.js';

const config = loadConfig({ LOG_LEVEL: 'silent' });
const registry = createJobRegistry();
const doc = createOpenApiDocument(config, registry);
const routes = guardedRoutes(doc);

/** A concrete path for a template: each parameter filled with `x`. */
const concrete = (template: string) => template.replace(/\{[^}]+\}/g, 'x');

describe('the scope gate (route metadata from the OpenAPI document)', () => {
  it('decides, for every guarded operation, the scope the document gives it', () => {
    let checked = 0;
    for (const [template, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const scope = operation['x-stowage-scope'];
        if (typeof scope !== 'string') continue;
        const decision = decideRoute(routes, method.toUpperCase(), concrete(template));
        expect(decision, `${method} ${template}`).toMatchObject({ kind: 'scope', scope });
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(8);
  });

  it("decides the job type's own scope on the enqueue routes, and an unknown type before its body", () => {
    for (const definition of registry.definitions) {
      for (const path of [`/v1/jobs/${definition.name}`, `/v1/jobs/${definition.name}/bulk`]) {
        expect(decideRoute(routes, 'POST', path), path).toMatchObject({
          kind: 'scope',
          scope: definition.scope,
          job: definition.name,
        });
      }
    }
    expect(decideRoute(routes, 'POST', '/v1/jobs/no.such')).toMatchObject({
      kind: 'unknown-job',
      name: 'no.such',
    });
    // Own properties only: a prototype name is no job type.
    expect(decideRoute(routes, 'POST', '/v1/jobs/constructor')).toMatchObject({
      kind: 'unknown-job',
    });
  });

  it('matches as express does: literal segments first, any case, an optional trailing slash', () => {
    expect(decideRoute(routes, 'GET', '/v1/artifacts/stats')).toMatchObject({ scope: 'read' });
    expect(decideRoute(routes, 'GET', '/V1/Cache/Stats/')).toMatchObject({ scope: 'read' });
    expect(decideRoute(routes, 'HEAD', '/v1/jobs/some-id')).toMatchObject({ scope: 'read' });
    expect(decideRoute(routes, 'POST', '/v1/maintenance/retention.cleanup')).toMatchObject({
      scope: 'admin',
    });
    expect(decideRoute(routes, 'POST', '/v1/artifacts/sample')).toMatchObject({
      scope: 'artifacts',
    });
    expect(decideRoute(routes, 'POST', '/v1/nowhere')).toEqual({ kind: 'no-route' });
    expect(decideRoute(routes, 'DELETE', '/v1/ingest/iocs')).toEqual({ kind: 'no-route' });
    expect(decideRoute(routes, 'GET', '/v1/iocs/domain/a/b')).toEqual({ kind: 'no-route' });
  });
});
