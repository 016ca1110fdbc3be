// GET /status (seed 001's troubleshooting call): the seed's `status` field, then each
// backend and each queue; degraded (still 200) when a backend is down.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAMES } from '../../src/config.js';
import { StowageClient } from '../../src/sdk/index.js';
import { TEST_KEYS, TestWorld } from '../helpers/world.js';

const get = (base: string, key: string | null) =>
  fetch(`${base}/status`, {
    headers: key === null ? {} : { authorization: `Bearer ${key}` },
  });

describe('GET /status', () => {
  let world: TestWorld;
  let base: string;

  beforeAll(async () => {
    world = new TestWorld();
    base = await world.startApi();
  });
  afterAll(async () => {
    await world?.close();
  });

  it('answers healthy with every backend up and each queue’s job counts', async () => {
    const res = await get(base, TEST_KEYS.read);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      status: string;
      service: string;
      timestamp: string;
      uptime_seconds: number;
      backends: Record<string, string>;
      queues: Record<string, Record<string, number> | null>;
      response_ms: number;
    };
    expect(body.status).toBe('healthy');
    expect(body.service).toBe('stowage');
    expect(Math.abs(Date.parse(body.timestamp) - Date.now())).toBeLessThan(60_000);
    expect(body.uptime_seconds).toBeGreaterThanOrEqual(0);
    expect(body.backends).toMatchObject({ redis: 'up', postgres: 'up', s3: 'up' });
    expect(Object.keys(body.queues).sort()).toEqual([...QUEUE_NAMES].sort());
    for (const counts of Object.values(body.queues)) {
      expect(counts).toEqual({
        waiting: expect.any(Number),
        active: expect.any(Number),
        delayed: expect.any(Number),
        failed: expect.any(Number),
        prioritized: expect.any(Number),
        'waiting-children': expect.any(Number),
      });
    }
    expect(body.response_ms).toBeGreaterThanOrEqual(0);
  });

  it('needs a key (any scope with read); without one it is 401 unless open mode lists the client', async () => {
    expect((await get(base, null)).status).toBe(401);
    expect((await get(base, TEST_KEYS.ingest)).status).toBe(403);
    expect((await get(base, TEST_KEYS.admin)).status).toBe(200);
  });

  it('the SDK reads it', async () => {
    const client = new StowageClient({ baseUrl: base, apiKey: TEST_KEYS.read, retry: false });
    expect(await client.status()).toMatchObject({ status: 'healthy', service: 'stowage' });
  });
});

describe('GET /status with a backend down', () => {
  let world: TestWorld;
  let base: string;

  beforeAll(async () => {
    // Nothing listens on port 9: S3 does not answer.
    world = new TestWorld({ S3_ENDPOINT: 'http://127.0.0.1:9' });
    base = await world.startApi();
  });
  afterAll(async () => {
    await world?.close();
  });

  it('answers 200 degraded, naming the backend that is down', async () => {
    const res = await get(base, TEST_KEYS.read);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; backends: Record<string, string> };
    expect(body.status).toBe('degraded');
    expect(body.backends).toMatchObject({ s3: 'down', redis: 'up', postgres: 'up' });
  });
});
