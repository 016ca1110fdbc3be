import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpenApiDocument } from '../../src/api/openapi.js';
import { StowageWorld } from '../helpers/world.js';

describe('GET /openapi.json', () => {
  let world: StowageWorld;
  let base: string;
  beforeAll(async () => {
    world = new StowageWorld();
    base = await world.startApi();
  });
  afterAll(async () => {
    await world.close();
  });

  it('answers 200 application/json without a key, with the document of this api', async () => {
    const res = await fetch(`${base}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json\b/);
    const body = (await res.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(body.openapi).toBe('3.1.0');
    expect(body).toEqual(
      JSON.parse(JSON.stringify(createOpenApiDocument(world.config, world.registry))),
    );
  });

  it('documents the problem a route without a key answers with', async () => {
    const res = await fetch(`${base}/v1/jobs/iocs.insert`, { method: 'POST' });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json\b/);
    const problem = (await res.json()) as Record<string, unknown>;
    const documented = (await (await fetch(`${base}/openapi.json`)).json()) as {
      components: { schemas: { Problem: { properties: object; required: string[] } } };
    };
    const schema = documented.components.schemas.Problem;
    expect(Object.keys(problem).filter((k) => !(k in schema.properties))).toEqual([]);
    for (const key of schema.required) expect(problem).toHaveProperty(key);
  });
});
