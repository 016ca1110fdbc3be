import express from 'express';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { HttpProblem, problemHandler } from '../../src/http/problem.js';
import { PermanentError, TransientError, ValidationError } from '../../src/errors/index.js';
import { createLogger } from '../../src/log.js';

describe('problem responses', () => {
  let base: string;
  let close: () => void;
  beforeAll(async () => {
    const app = express();
    app.get('/validation', () => {
      throw ValidationError.fromZod(
        z.object({ a: z.number() }).safeParse({ a: 'x' }).error!,
        'body',
      );
    });
    app.get('/permanent', () => {
      throw new PermanentError('checksum_mismatch', 'digest differs');
    });
    app.get('/transient', () => {
      throw new TransientError('backend_unavailable', 'postgres is down');
    });
    app.get('/problem', () => {
      throw new HttpProblem(409, 'conflict', 'already there');
    });
    app.get('/bug', () => {
      throw new Error('secret internals');
    });
    app.use(problemHandler(createLogger({ LOG_LEVEL: 'silent', LOG_PRETTY: false })));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => server.close();
  });
  afterAll(() => close());

  const get = async (path: string) => {
    const res = await fetch(base + path);
    return {
      status: res.status,
      type: res.headers.get('content-type'),
      body: (await res.json()) as Record<string, unknown>,
    };
  };

  it('a validation error is a 400 naming the field path', async () => {
    const r = await get('/validation');
    expect(r.status).toBe(400);
    expect(r.type).toMatch(/^application\/problem\+json/);
    expect(r.body).toMatchObject({ code: 'invalid_payload', errors: [{ path: 'body.a' }] });
  });

  it('codes map to statuses: permanent 400, transient 503, explicit problems keep theirs', async () => {
    expect((await get('/permanent')).status).toBe(400);
    expect((await get('/transient')).status).toBe(503);
    expect((await get('/problem')).status).toBe(409);
  });

  it('an unexpected error is a 500 that does not leak its message', async () => {
    const r = await get('/bug');
    expect(r.status).toBe(500);
    expect(JSON.stringify(r.body)).not.toContain('secret internals');
  });
});
