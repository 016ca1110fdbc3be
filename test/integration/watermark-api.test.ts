import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate } from '../../src/http/auth.js';
import { problemHandler } from '../../src/http/problem.js';
import { watermarkRoutes } from '../../src/api/routes/watermarks.js';
import { loadConfig } from '../../src/config.js';
import { createPgPool } from '../../src/connections/postgres.js';
import { createLogger } from '../../src/log.js';
import { PostgresWatermarkStore } from '../../src/stores/postgres/watermark-store.js';

const KEYS = {
  ingest: 'wm-ingest-key-0123456789',
  read: 'wm-read-key-0123456789ab',
  artifacts: 'wm-artifacts-key-0123456',
};

describe('watermark API (seed 001)', () => {
  const schema = `t_wmapi_${randomBytes(5).toString('hex')}`;
  // The collector role holds both scopes, as the seed's collection service would.
  const config = loadConfig({
    ...process.env,
    API_KEYS: [
      `collector:${KEYS.ingest}:ingest+read`,
      `reader:${KEYS.read}:read`,
      `uploader:${KEYS.artifacts}:artifacts`,
    ].join(','),
  });
  let pool: pg.Pool;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    pool = createPgPool(config.DATABASE_URL);
    const store = new PostgresWatermarkStore(pool, { schema });
    await store.init();
    const app = express();
    app.use(authenticate(config.API_KEYS));
    app.use(express.json());
    app.use(watermarkRoutes(store));
    app.use(problemHandler(createLogger({ LOG_LEVEL: 'silent', LOG_PRETTY: false })));
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/watermarks`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  });

  const get = (source: string, key = KEYS.ingest) =>
    fetch(`${base}/${source}`, { headers: { authorization: `Bearer ${key}` } });
  const put = (source: string, body: unknown, key = KEYS.ingest) =>
    fetch(`${base}/${source}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const problem = async (res: Response) => {
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    return (await res.json()) as { code: string; errors?: { path: string; message: string }[] };
  };

  it('GET before the first run is a 404 problem', async () => {
    const res = await get('alienvault_otx');
    expect(res.status).toBe(404);
    expect((await problem(res)).code).toBe('not_found');
  });

  it('the first PUT answers 201 and later ones 200, and GET shows the seed 001 watermark', async () => {
    const first = await put('alienvault_otx', {
      timestamp: '2024-01-01T12:00:00Z',
      status: 'success',
      error_message: null,
      records_collected: 150,
    });
    expect(first.status).toBe(201);
    expect(await first.json()).toMatchObject({
      source_id: 'alienvault_otx',
      last_successful_timestamp: '2024-01-01T12:00:00Z',
      status: 'success',
    });

    // Exactly seed 001's request body.
    const second = await put('alienvault_otx', {
      timestamp: '2024-01-01T12:30:00Z',
      status: 'success',
      error_message: null,
    });
    expect(second.status).toBe(200);
    expect(second.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await second.json()).toMatchObject({
      source_id: 'alienvault_otx',
      last_successful_timestamp: '2024-01-01T12:30:00Z',
      status: 'success',
    });

    const res = await get('alienvault_otx', KEYS.read);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      source_id: 'alienvault_otx',
      last_successful_timestamp: '2024-01-01T12:30:00Z',
      last_run_timestamp: '2024-01-01T12:30:00Z',
      status: 'success',
      records_collected: 0,
      error_message: null,
    });
  });

  it('an older success answers 200 with the watermark unchanged', async () => {
    const res = await put('alienvault_otx', {
      timestamp: '2024-01-01T11:00:00Z',
      status: 'success',
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ last_successful_timestamp: '2024-01-01T12:30:00Z' });
  });

  it('a failed run keeps the success timestamp and shows status failed with the error', async () => {
    const res = await put('alienvault_otx', {
      timestamp: '2024-01-01T12:35:00Z',
      status: 'failed',
      error_message: 'OTX answered 503',
    });
    expect(res.status).toBe(200);
    const after = await get('alienvault_otx');
    expect(await after.json()).toEqual({
      source_id: 'alienvault_otx',
      last_successful_timestamp: '2024-01-01T12:30:00Z',
      last_run_timestamp: '2024-01-01T12:35:00Z',
      status: 'failed',
      records_collected: 0,
      error_message: 'OTX answered 503',
    });
  });

  it('a Python utcnow().isoformat() timestamp is read as UTC and answered without microseconds', async () => {
    const res = await put('py_collector', {
      timestamp: '2024-01-01T12:05:00.250123',
      status: 'success',
      records_collected: 3,
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({
      last_successful_timestamp: '2024-01-01T12:05:00.250Z',
      records_collected: 3,
    });
  });

  it('a bad timestamp or status is a 400 problem naming the field', async () => {
    const badTimestamp = await put('alienvault_otx', { timestamp: 'yesterday', status: 'success' });
    expect(badTimestamp.status).toBe(400);
    const p1 = await problem(badTimestamp);
    expect(p1.code).toBe('invalid_payload');
    expect(p1.errors?.map((e) => e.path)).toEqual(['timestamp']);

    const badStatus = await put('alienvault_otx', {
      timestamp: '2024-01-01T13:00:00Z',
      status: 'partial',
    });
    expect(badStatus.status).toBe(400);
    expect((await problem(badStatus)).errors?.map((e) => e.path)).toEqual(['status']);

    const empty = await put('alienvault_otx', {});
    expect((await problem(empty)).errors?.map((e) => e.path).sort()).toEqual([
      'status',
      'timestamp',
    ]);
    // Nothing of the refused requests was recorded.
    expect(await (await get('alienvault_otx')).json()).toMatchObject({ status: 'failed' });
  });

  it('a bad source id is a 400 problem naming source_id', async () => {
    const onGet = await get('-not-a-slug');
    expect(onGet.status).toBe(400);
    expect((await problem(onGet)).errors?.map((e) => e.path)).toEqual(['source_id']);
    const onPut = await put('a%20b', { timestamp: 'nope', status: 'success' });
    expect(onPut.status).toBe(400);
    expect((await problem(onPut)).errors?.map((e) => e.path)).toEqual(['source_id', 'timestamp']);
  });

  it('no key is 401; GET needs read and PUT needs ingest (403)', async () => {
    const anonymous = await fetch(`${base}/alienvault_otx`);
    expect(anonymous.status).toBe(401);
    expect((await problem(anonymous)).code).toBe('unauthorized');
    const readerPut = await put(
      'alienvault_otx',
      {
        timestamp: '2024-01-01T13:00:00Z',
        status: 'success',
      },
      KEYS.read,
    );
    expect(readerPut.status).toBe(403);
    expect((await problem(readerPut)).code).toBe('forbidden');
    expect((await get('alienvault_otx', KEYS.artifacts)).status).toBe(403);
    expect((await get('alienvault_otx', KEYS.read)).status).toBe(200);
  });
});
