import express from 'express';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { authenticate } from '../../src/http/auth.js';
import { routerFor } from '../../src/api/express-adapter.js';
import { problemHandler } from '../../src/http/problem.js';
import { defineRoute, ok, problem } from '../../src/api/route.js';
import { loadConfig } from '../../src/config.js';
import { NotFoundError } from '../../src/errors/index.js';
import { createLogger } from '../../src/log.js';

const route = defineRoute<{ greeting: string }>();
const rows = [
  route({
    operationId: 'greet',
    method: 'put',
    path: '/v1/greet/{name}',
    summary: 'Greets',
    access: 'ingest',
    params: z.strictObject({ name: z.string().regex(/^[a-z]+$/) }),
    body: z.strictObject({ times: z.int().min(1) }),
    responses: { 201: ok(z.object({ text: z.string() }), 'Greeted'), 404: problem('Nobody') },
    handler: ({ params, body }, { caller, deps }) => {
      if (params.name === 'nobody') {
        throw new NotFoundError('no such name', {}, [{ path: 'name', message: 'unknown' }]);
      }
      return {
        status: 201,
        headers: { 'X-Caller': caller?.name ?? '' },
        body: { text: `${deps.greeting} ${params.name} x${body.times}` },
      };
    },
  }),
  route({
    operationId: 'plain',
    method: 'get',
    path: '/plain',
    summary: 'Plain text',
    access: 'public',
    responses: { 200: ok(z.string(), 'Text', 'text/plain') },
    handler: () => ({ status: 200, type: 'text/plain', body: 'plain' }),
  }),
  route({
    operationId: 'count',
    method: 'post',
    path: '/v1/count',
    summary: 'Counts the bytes of a streamed body',
    access: 'ingest',
    stream: true,
    headers: z.object({
      'X-Label': z
        .string()
        .regex(/^[a-z]+$/)
        .optional(),
    }),
    responses: { 201: ok(z.object({ label: z.string(), bytes: z.int() }), 'Counted') },
    handler: async ({ headers }, { request }) => {
      let bytes = 0;
      for await (const chunk of request) bytes += (chunk as Buffer).length;
      const label = headers['X-Label'] ?? 'none';
      return { status: 201, headers: { Location: `/v1/count/${label} x` }, body: { label, bytes } };
    },
  }),
];

describe('routerFor (the express adapter of the route table)', () => {
  let base: string;
  let close: () => void;
  beforeAll(async () => {
    const config = loadConfig({
      API_KEYS: 'writer:writer-key-0123456789:ingest,reader:reader-key-0123456789:read',
    });
    const app = express();
    app.use(routerFor(rows.slice(1, 2), { greeting: 'hello' }));
    app.use(authenticate(config.API_KEYS));
    app.use(routerFor(rows.slice(2), { greeting: 'hello' }));
    app.use(express.json());
    app.use(routerFor(rows, { greeting: 'hello' }));
    app.use(problemHandler(createLogger({ LOG_LEVEL: 'silent', LOG_PRETTY: false })));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => server.close();
  });
  afterAll(() => close());

  const put = (path: string, body: unknown, key = 'writer-key-0123456789') =>
    fetch(base + path, {
      method: 'PUT',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('answers with the handler status, headers and JSON body, over validated input', async () => {
    const res = await put('/v1/greet/ann', { times: 2 });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-caller')).toBe('writer');
    expect(await res.json()).toEqual({ text: 'hello ann x2' });
  });

  it('refuses a caller without the scope before validating', async () => {
    const res = await put('/v1/greet/ANN', { times: 0 }, 'reader-key-0123456789');
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: 'forbidden' });
  });

  it('names every failing field of path and body in one 400', async () => {
    const res = await put('/v1/greet/ANN', { times: 0, extra: 1 });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; errors: { path: string }[] };
    expect(body.code).toBe('invalid_payload');
    expect(body.errors.map((e) => e.path).sort()).toEqual(['extra', 'name', 'times']);
  });

  it("answers a use case's StowageError as a problem with its fields", async () => {
    const res = await put('/v1/greet/nobody', { times: 1 });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({
      code: 'not_found',
      detail: 'no such name',
      errors: [{ path: 'name', message: 'unknown' }],
    });
  });

  it('sends a body of another media type as is, without a key on a public row', async () => {
    const res = await fetch(`${base}/plain`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toBe('plain');
  });

  it('hands a streamed row its headers by their documented names and the unread body', async () => {
    const res = await fetch(`${base}/v1/count`, {
      method: 'POST',
      headers: { authorization: 'Bearer writer-key-0123456789', 'x-label': 'abc' },
      body: 'x'.repeat(1000),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe('/v1/count/abc%20x');
    expect(await res.json()).toEqual({ label: 'abc', bytes: 1000 });
  });

  it('names a failing header by its documented name', async () => {
    const res = await fetch(`${base}/v1/count`, {
      method: 'POST',
      headers: { authorization: 'Bearer writer-key-0123456789', 'x-label': 'ABC' },
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: { path: string }[] };
    expect(body.errors.map((e) => e.path)).toEqual(['X-Label']);
  });
});
