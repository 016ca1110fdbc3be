// Redis going away under the api (a restart, a failover, a network cut): requests that
// need it get a 503 with Retry-After, never a 500, and the same request retried with its
// Idempotency-Key once Redis is back lands exactly once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { StowageWorld, TEST_KEYS } from '../helpers/world.js';

const redisUrl = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');

describe('api while Redis is away', () => {
  const proxy = new TcpProxy(redisUrl.hostname, Number(redisUrl.port || 6379));
  let world: StowageWorld;
  let base: string;

  beforeAll(async () => {
    const port = await proxy.open();
    const viaProxy = new URL(redisUrl);
    viaProxy.port = String(port);
    world = new StowageWorld({ REDIS_URL: viaProxy.toString() });
    // The schema `stowage init` creates: ingest stages its batches in PostgreSQL.
    await world.initStores();
    base = await world.startApi();
  });
  afterAll(async () => {
    await proxy.open().catch(() => undefined);
    await world.close();
    await proxy.cut();
  });

  const ingest = (key: string) =>
    fetch(`${base}/v1/ingest/iocs`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TEST_KEYS.ingest}`,
        'content-type': 'application/json',
        'idempotency-key': key,
      },
      body: JSON.stringify({
        source_id: 'otx',
        watermark: { timestamp: '2026-03-01T00:00:00Z' },
        iocs: [
          {
            type: 'domain',
            value: 'outage.example.com',
            confidence: 0.9,
            first_seen: '2026-03-01T00:00:00Z',
            last_seen: '2026-03-01T00:00:00Z',
          },
        ],
      }),
    });

  it('answers 503 backend_unavailable with Retry-After, then 202 once, on retry', async () => {
    await proxy.cut();
    const started = Date.now();
    const down = await ingest('outage-1');
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('1');
    expect(down.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await down.json()).toMatchObject({ code: 'backend_unavailable' });
    // Fail fast: a caller is not held while Redis is away.
    expect(Date.now() - started).toBeLessThan(10_000);

    await proxy.open();
    let up: Response | undefined;
    for (let i = 0; i < 50 && up?.status !== 202; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 200));
      up = await ingest('outage-1');
    }
    expect(up?.status).toBe(202);
    const { id } = (await up!.json()) as { id: string };
    const again = await ingest('outage-1');
    expect(again.status).toBe(202);
    expect(await again.json()).toMatchObject({ id, replayed: true });
    // One flow: the parent and its one child, nothing else.
    const counts = await world.queues.get('ingest').getJobCounts();
    expect(counts['waiting-children']).toBe(1);
    // ingest is a fair queue (FAIR_QUEUES): its one ready job waits as prioritized.
    expect(counts.prioritized).toBe(1);
    expect(counts.waiting).toBe(0);
  });
});
