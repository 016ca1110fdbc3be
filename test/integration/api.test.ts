import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_KEYS, TestWorld, eventually } from '../helpers/world.js';

const auth = (key: string) => ({ authorization: `Bearer ${key}` });
const json = (key: string) => ({ ...auth(key), 'content-type': 'application/json' });

describe('intake API', () => {
  let world: TestWorld;
  let base: string;
  beforeAll(async () => {
    world = new TestWorld({ API_BODY_LIMIT: '2kb' });
    base = await world.startApi();
  });
  afterAll(async () => {
    await world.close();
  });

  it('GET /health answers exactly {"status":"healthy"} without a key', async () => {
    const res = await fetch(`${base}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'healthy' });
  });

  it('GET /ready reports every backend up', async () => {
    const res = await fetch(`${base}/ready`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      status: 'ready',
      backends: { redis: 'up', postgres: 'up', s3: 'up' },
    });
  });

  it('POST /v1/jobs/{type} enqueues a valid payload and answers 202 with the job id', async () => {
    const res = await fetch(`${base}/v1/jobs/test.echo`, {
      method: 'POST',
      headers: json(TEST_KEYS.ingest),
      body: JSON.stringify({ value: 'from-api' }),
    });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { id: string; queue: string; status_url: string };
    expect(body.queue).toBe('ingest');
    expect(res.headers.get('location')).toBe(`/v1/jobs/${body.id}`);
    const job = await world.queues.get('ingest').getJob(body.id);
    // The payload, and who asked for it (the key's name and tenant).
    expect(job?.data).toEqual({
      value: 'from-api',
      times: 1,
      $meta: { enqueued_by: 'ingest-client', tenant: 'ingest-client' },
    });
    const status = await fetch(`${base}/v1/jobs/${body.id}`, { headers: auth(TEST_KEYS.read) });
    expect(await status.json()).toMatchObject({
      enqueued_by: 'ingest-client',
      tenant: 'ingest-client',
      tags: [],
      payload: { value: 'from-api', times: 1 },
    });
  });

  it('Idempotency-Key maps to one job id', async () => {
    const send = () =>
      fetch(`${base}/v1/jobs/test.echo`, {
        method: 'POST',
        headers: { ...json(TEST_KEYS.ingest), 'idempotency-key': 'req-42' },
        body: JSON.stringify({ value: 'idem' }),
      }).then((r) => r.json() as Promise<{ id: string }>);
    const [a, b] = await Promise.all([send(), send()]);
    expect(a.id).toBe(b.id);
    expect(await world.queues.get('ingest').getJob(a.id)).toBeDefined();
  });

  it('a bad payload is a 400 problem naming each failing field, and nothing is enqueued', async () => {
    const before = await world.queues.get('ingest').count();
    const res = await fetch(`${base}/v1/jobs/test.echo`, {
      method: 'POST',
      headers: json(TEST_KEYS.ingest),
      body: JSON.stringify({ value: 7, times: 0 }),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = (await res.json()) as { code: string; errors: { path: string }[] };
    expect(problem.code).toBe('invalid_payload');
    expect(problem.errors.map((e) => e.path).sort()).toEqual(['times', 'value']);
    expect(await world.queues.get('ingest').count()).toBe(before);
  });

  it('malformed JSON is a 400 problem, not a 500', async () => {
    const res = await fetch(`${base}/v1/jobs/test.echo`, {
      method: 'POST',
      headers: json(TEST_KEYS.ingest),
      body: '{"value": "x",',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('invalid_json');
  });

  it('a body over the limit is a 413 problem', async () => {
    const res = await fetch(`${base}/v1/jobs/test.echo`, {
      method: 'POST',
      headers: json(TEST_KEYS.ingest),
      body: JSON.stringify({ value: 'x'.repeat(5_000) }),
    });
    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('a body that is not JSON is a 415 problem', async () => {
    const res = await fetch(`${base}/v1/jobs/test.echo`, {
      method: 'POST',
      headers: { ...auth(TEST_KEYS.ingest), 'content-type': 'text/plain' },
      body: 'value=x',
    });
    expect(res.status).toBe(415);
  });

  it('an unknown job type is a 404 problem naming the type', async () => {
    const res = await fetch(`${base}/v1/jobs/nope.nothing`, {
      method: 'POST',
      headers: json(TEST_KEYS.admin),
      body: '{}',
    });
    expect(res.status).toBe(404);
    const problem = (await res.json()) as { code: string; errors: { path: string }[] };
    expect(problem.code).toBe('unknown_job_type');
    expect(problem.errors[0]!.path).toBe('type');
  });

  it('no key is 401, an unknown key is 401, the wrong scope is 403', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(`${base}/v1/jobs/test.echo`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ value: 'x' }),
      });
    const none = await post({ 'content-type': 'application/json' });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect((await post(json('not-a-key-0123456789abcdef'))).status).toBe(401);
    expect((await post(json(TEST_KEYS.read))).status).toBe(403);
    expect((await post(json(TEST_KEYS.artifacts))).status).toBe(403);
    expect((await post(json(TEST_KEYS.admin))).status).toBe(202);
  });

  it('bulk enqueue takes many payloads and refuses all when one is bad', async () => {
    const bad = await fetch(`${base}/v1/jobs/test.echo/bulk`, {
      method: 'POST',
      headers: json(TEST_KEYS.ingest),
      body: JSON.stringify({ payloads: [{ value: 'b1' }, { value: '' }] }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { path: string }[] }).errors[0]!.path).toBe(
      'payloads.1.value',
    );
    const good = await fetch(`${base}/v1/jobs/test.echo/bulk`, {
      method: 'POST',
      headers: json(TEST_KEYS.ingest),
      body: JSON.stringify({ payloads: [{ value: 'b1' }, { value: 'b2' }] }),
    });
    expect(good.status).toBe(202);
    expect(((await good.json()) as { jobs: unknown[] }).jobs).toHaveLength(2);
  });

  it('GET /v1/jobs/{id} shows state, progress, attempts and the return value', async () => {
    await world.startWorker(['ingest']);
    const res = await fetch(`${base}/v1/jobs/test.echo`, {
      method: 'POST',
      headers: json(TEST_KEYS.ingest),
      body: JSON.stringify({ value: 'status' }),
    });
    const { id } = (await res.json()) as { id: string };
    const status = await eventually(async () => {
      const r = await fetch(`${base}/v1/jobs/${id}`, { headers: auth(TEST_KEYS.read) });
      const body = (await r.json()) as { state: string };
      return body.state === 'completed' ? body : undefined;
    });
    expect(status).toMatchObject({
      id,
      type: 'test.echo',
      queue: 'ingest',
      state: 'completed',
      progress: 100,
      attempts_made: 1,
      return_value: { echoed: 'status', attempt: 1 },
      failed_reason: null,
    });
    const missing = await fetch(`${base}/v1/jobs/test.echo.nope`, {
      headers: auth(TEST_KEYS.read),
    });
    expect(missing.status).toBe(404);
    const noScope = await fetch(`${base}/v1/jobs/${id}`, { headers: auth(TEST_KEYS.ingest) });
    expect(noScope.status).toBe(403);
  });

  it('the job status shows the failure reason of a failed job', async () => {
    const job = await world.producer.enqueue('test.fail', { mode: 'permanent' });
    const status = await eventually(async () => {
      const r = await fetch(`${base}/v1/jobs/${job.id}`, { headers: auth(TEST_KEYS.read) });
      const body = (await r.json()) as { state: string };
      return body.state === 'failed' ? body : undefined;
    });
    expect(status).toMatchObject({
      state: 'failed',
      failed_reason: 'test_refused: refused on purpose',
    });
  });
});

describe('dashboard', () => {
  let world: TestWorld;
  let base: string;
  beforeAll(async () => {
    world = new TestWorld();
    base = await world.startApi();
  });
  afterAll(async () => {
    await world.close();
  });

  const basic = (key: string) => ({
    authorization: `Basic ${Buffer.from(`any:${key}`).toString('base64')}`,
  });

  it('without a key asks the browser to sign in', async () => {
    const res = await fetch(`${base}/admin/queues`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic/);
  });

  it('with an admin key lists every queue and allows retries', async () => {
    const page = await fetch(`${base}/admin/queues`, { headers: basic(TEST_KEYS.admin) });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
    const api = await fetch(`${base}/admin/queues/api/queues`, { headers: basic(TEST_KEYS.admin) });
    const body = (await api.json()) as {
      queues: { name: string; readOnlyMode: boolean; allowRetries: boolean }[];
    };
    expect(body.queues.map((q) => q.name).sort()).toEqual([
      'archive',
      'artifacts',
      'cache',
      'ingest',
      'maintenance',
    ]);
    expect(body.queues.every((q) => !q.readOnlyMode && q.allowRetries)).toBe(true);
  });

  it('a read key gets the read-only board and cannot retry', async () => {
    const api = await fetch(`${base}/admin/queues/api/queues`, { headers: auth(TEST_KEYS.read) });
    const body = (await api.json()) as { queues: { readOnlyMode: boolean }[] };
    expect(body.queues.length).toBe(5);
    expect(body.queues.every((q) => q.readOnlyMode)).toBe(true);
    const retry = await fetch(`${base}/admin/queues/api/queues/ingest/retry/failed`, {
      method: 'PUT',
      headers: auth(TEST_KEYS.read),
    });
    expect(retry.status).toBeGreaterThanOrEqual(400);
  });

  it('an ingest-only key is refused', async () => {
    const res = await fetch(`${base}/admin/queues`, { headers: auth(TEST_KEYS.ingest) });
    expect(res.status).toBe(403);
  });
});
