// Open watermark mode (issue 15 item 6): seed 001's collection client sends no
// Authorization header. With WATERMARK_OPEN_CIDRS listing the client's network its
// requests are served; off (the default), or from another network, they are 401 — and
// every other route needs a key whatever the setting.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send, type RawAnswer } from '../helpers/raw-http.js';
import { TEST_KEYS, TestWorld } from '../helpers/world.js';

/** The headers seed 001's Python client (httpx) sends: no Authorization. */
const CLIENT_HEADERS = { accept: '*/*', 'user-agent': 'python-httpx/0.27.0' };

/**
 * The collection client's run exactly as seed 001 documents it: health check, first
 * GET (404), PUT after a successful collection, GET again, a failed run, and the status
 * page of its troubleshooting section. Returns each answer.
 */
async function seed001Flow(base: string, source: string): Promise<RawAnswer[]> {
  const answers: RawAnswer[] = [];
  const json = (body: unknown) => ({
    headers: { ...CLIENT_HEADERS, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  answers.push(await send(base, { method: 'GET', path: '/health', headers: CLIENT_HEADERS }));
  const path = `/api/v1/watermarks/${source}`;
  answers.push(await send(base, { method: 'GET', path, headers: CLIENT_HEADERS }));
  answers.push(
    await send(base, {
      method: 'PUT',
      path,
      ...json({ timestamp: '2024-01-01T12:30:00Z', status: 'success', error_message: null }),
    }),
  );
  answers.push(await send(base, { method: 'GET', path, headers: CLIENT_HEADERS }));
  answers.push(
    await send(base, {
      method: 'PUT',
      path,
      ...json({
        timestamp: '2024-01-01T13:00:00Z',
        status: 'failed',
        error_message: 'Connection timeout',
      }),
    }),
  );
  answers.push(await send(base, { method: 'GET', path: '/status', headers: CLIENT_HEADERS }));
  return answers;
}

/** Requests that need a key whatever WATERMARK_OPEN_CIDRS says (no Authorization header). */
const KEYED_ROUTES: { method: string; path: string; body?: string }[] = [
  { method: 'GET', path: '/v1/cache/stats' },
  { method: 'GET', path: '/v1/config/notification_rules' },
  { method: 'PUT', path: '/v1/config/notification_rules', body: '{"value":1}' },
  { method: 'POST', path: '/v1/ingest/iocs', body: '{}' },
  { method: 'POST', path: '/v1/jobs/watermark.commit', body: '{}' },
  { method: 'GET', path: '/api/v1/watermarks/feed-a/rewinds' },
  {
    method: 'POST',
    path: '/api/v1/watermarks/feed-a/rewind',
    body: '{"timestamp":"2024-01-01T00:00:00Z","reason":"x"}',
  },
  { method: 'DELETE', path: '/api/v1/watermarks/feed-a' },
  { method: 'POST', path: '/api/v1/watermarks/feed-a', body: '{}' },
  { method: 'GET', path: '/v1/jobs/watermark.commit.x' },
];

describe('open watermark mode on (WATERMARK_OPEN_CIDRS holds the client network)', () => {
  let world: TestWorld;
  let base: string;

  beforeAll(async () => {
    world = new TestWorld({ WATERMARK_OPEN_CIDRS: '10.0.0.0/8, 127.0.0.0/8, fd00::/8' });
    await world.initStores();
    base = await world.startApi();
  });
  afterAll(async () => {
    await world?.close();
  });

  it('the unmodified seed-001 client flow works without an Authorization header', async () => {
    const [health, first, put, got, failed, status] = await seed001Flow(base, 'alienvault_otx');
    expect(health?.status).toBe(200);
    expect(health?.json).toEqual({ status: 'healthy' });
    expect(first?.status).toBe(404);
    expect(put?.status).toBe(201);
    expect(put?.json).toMatchObject({
      source_id: 'alienvault_otx',
      last_successful_timestamp: '2024-01-01T12:30:00Z',
      status: 'success',
    });
    expect(got?.status).toBe(200);
    expect(got?.json).toMatchObject({
      source_id: 'alienvault_otx',
      last_successful_timestamp: '2024-01-01T12:30:00Z',
      status: 'success',
    });
    expect(failed?.status).toBe(200);
    expect(failed?.json).toMatchObject({
      last_successful_timestamp: '2024-01-01T12:30:00Z',
      status: 'failed',
      error_message: 'Connection timeout',
    });
    expect(status?.status).toBe(200);
    expect(status?.json).toMatchObject({ status: 'healthy', service: 'stowage' });
    // The watermark really is stored, as a keyed reader sees it.
    const stored = await world.deps.watermarks.get('alienvault_otx');
    expect(stored?.last_successful_timestamp?.toISOString()).toBe('2024-01-01T12:30:00.000Z');
  });

  it('every other route still needs a key, even from the open network', async () => {
    for (const route of KEYED_ROUTES) {
      const res = await send(base, {
        method: route.method,
        path: route.path,
        headers: {
          ...CLIENT_HEADERS,
          ...(route.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(route.body === undefined ? {} : { body: route.body }),
      });
      expect(res.status, `${route.method} ${route.path}`).toBe(401);
    }
  });

  it('a request that sends a key is judged by the key, not by its network', async () => {
    const unknown = await send(base, {
      method: 'GET',
      path: '/api/v1/watermarks/alienvault_otx',
      headers: { ...CLIENT_HEADERS, authorization: 'Bearer not-a-key-0123456789abcdef' },
    });
    expect(unknown.status).toBe(401);
    const wrongScope = await send(base, {
      method: 'PUT',
      path: '/api/v1/watermarks/alienvault_otx',
      headers: {
        ...CLIENT_HEADERS,
        authorization: `Bearer ${TEST_KEYS.read}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ timestamp: '2024-01-02T00:00:00Z', status: 'success' }),
    });
    expect(wrongScope.status).toBe(403);
    const keyed = await send(base, {
      method: 'GET',
      path: '/api/v1/watermarks/alienvault_otx',
      headers: { authorization: `Bearer ${TEST_KEYS.read}` },
    });
    expect(keyed.status).toBe(200);
  });

  it('an open request still gets the route validation (400 naming the field)', async () => {
    const res = await send(base, {
      method: 'PUT',
      path: '/api/v1/watermarks/bad%20source',
      headers: { ...CLIENT_HEADERS, 'content-type': 'application/json' },
      body: JSON.stringify({ timestamp: 'yesterday', status: 'success' }),
    });
    expect(res.status).toBe(400);
    const paths = ((res.json as { errors?: { path: string }[] }).errors ?? []).map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['source_id', 'timestamp']));
  });
});

describe('open watermark mode off (the default)', () => {
  let world: TestWorld;
  let base: string;

  beforeAll(async () => {
    world = new TestWorld();
    base = await world.startApi();
  });
  afterAll(async () => {
    await world?.close();
  });

  it('the seed-001 client flow gets 401 on every watermark and status request', async () => {
    expect(world.config.WATERMARK_OPEN_CIDRS).toEqual([]);
    const [health, ...rest] = await seed001Flow(base, 'alienvault_otx');
    expect(health?.status).toBe(200);
    expect(rest.map((a) => a.status)).toEqual([401, 401, 401, 401, 401]);
    expect(rest[0]?.headers['www-authenticate']).toBe('Bearer');
  });
});

describe('open watermark mode, client outside the listed networks', () => {
  let world: TestWorld;
  let base: string;

  beforeAll(async () => {
    world = new TestWorld({ WATERMARK_OPEN_CIDRS: '10.0.0.0/8,192.168.0.0/16,::1/128' });
    base = await world.startApi();
  });
  afterAll(async () => {
    await world?.close();
  });

  it('gets 401 (the api listens on 127.0.0.1, which is not listed)', async () => {
    const [, ...rest] = await seed001Flow(base, 'alienvault_otx');
    expect(rest.map((a) => a.status)).toEqual([401, 401, 401, 401, 401]);
  });

  it('X-Forwarded-For naming a listed address changes nothing: the socket address decides', async () => {
    for (const forwarded of ['10.1.2.3', '192.168.1.1, 10.0.0.1', '::1']) {
      const res = await send(base, {
        method: 'GET',
        path: '/api/v1/watermarks/alienvault_otx',
        headers: { ...CLIENT_HEADERS, 'x-forwarded-for': forwarded, forwarded: `for=${forwarded}` },
      });
      expect(res.status, forwarded).toBe(401);
    }
  });
});
