/**
 * Idempotency-Key against the real api and Redis: scoped to the API key and the route, bound
 * to the request body for IDEMPOTENCY_TTL_HOURS, replayed after the job is gone, atomic
 * under concurrency.
 */
import { readdir } from 'node:fs/promises';
import { Job } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { QueueName } from '../../src/config.js';
import { REPLAYED_HEADER } from '../../src/api/idempotent-request.js';
import { requestDigest } from '../../src/stores/redis/idempotency-store.js';
import { artifactOverrides, dropArtifacts } from '../helpers/artifacts.js';
import { StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';

const HOUR = 3_600_000;
const TTL_HOURS = 2;
// Fixed once, so the same batch built twice is the same request body.
const NOW = Date.now();

/** n domain IOCs of one source; `tag` makes two batches differ. */
function batch(n: number, source: string, tag: string) {
  return Array.from({ length: n }, (_, i) => ({
    type: 'domain' as const,
    value: `${tag}-${i}.${source}.example.com`,
    threat_type: 'c2',
    confidence: 0.9,
    source,
    first_seen: new Date(NOW - 5 * HOUR).toISOString(),
    last_seen: new Date(NOW - HOUR).toISOString(),
    tags: [tag],
  }));
}

interface Problem {
  code: string;
  status: number;
  errors: { path: string; message: string }[];
}

describe('Idempotency-Key', () => {
  let world: StowageWorld;
  let base: string;
  let overrides: Record<string, string>;

  beforeEach(async () => {
    overrides = await artifactOverrides();
    world = new StowageWorld({
      ...overrides,
      IDEMPOTENCY_TTL_HOURS: String(TTL_HOURS),
      INGEST_CHUNK_SIZE: '5',
    });
    await world.initStores();
    base = await world.startApi();
  });
  afterEach(async () => {
    await dropArtifacts(world.deps.s3, overrides);
    await world.close();
  });

  const postJson = (path: string, body: unknown, key: string, secret: string = TEST_KEYS.ingest) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${secret}`,
        'content-type': 'application/json',
        'idempotency-key': key,
      },
      body: JSON.stringify(body),
    });
  const jobCount = async (queue: QueueName) =>
    Object.values(await world.queues.get(queue).getJobCounts()).reduce((a, b) => a + b, 0);
  const idOf = async (res: Response) => {
    expect(res.status).toBe(202);
    const body = (await res.json()) as { id?: string; jobs?: { id: string }[] };
    return body.id ?? body.jobs!.map((j) => j.id).join(',');
  };

  /** Every route that takes an Idempotency-Key, with two different bodies for it. */
  const routes: {
    route: string;
    queue: QueueName;
    send: (key: string, variant: 'a' | 'b') => Promise<Response>;
  }[] = [
    {
      route: 'POST /v1/jobs/{type}',
      queue: 'ingest',
      send: (key, v) => postJson('/v1/jobs/iocs.insert', { iocs: batch(1, 'gen', v) }, key),
    },
    {
      route: 'POST /v1/jobs/{type}/bulk',
      queue: 'ingest',
      send: (key, v) =>
        postJson(
          '/v1/jobs/iocs.insert/bulk',
          { payloads: [{ iocs: batch(1, 'bulk', 'x') }, { iocs: batch(1, 'bulk', v) }] },
          key,
        ),
    },
    {
      route: 'POST /v1/ingest/iocs (no watermark)',
      queue: 'ingest',
      send: (key, v) =>
        postJson('/v1/ingest/iocs', { source_id: 'plain', iocs: batch(7, 'plain', v) }, key),
    },
    {
      route: 'POST /v1/ingest/iocs (with watermark)',
      queue: 'ingest',
      send: (key, v) =>
        postJson(
          '/v1/ingest/iocs',
          {
            source_id: 'wm',
            iocs: batch(3, 'wm', 'same'),
            watermark: { timestamp: v === 'a' ? '2026-01-01T00:00:00Z' : '2026-01-01T01:00:00Z' },
          },
          key,
        ),
    },
    {
      route: 'POST /v1/artifacts/{kind}',
      queue: 'artifacts',
      send: (key, v) =>
        fetch(`${base}/v1/artifacts/sample?request_id=req-idem&filename=a.log`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${TEST_KEYS.artifacts}`,
            'content-type': 'text/plain',
            'idempotency-key': key,
          },
          body: `log line of variant ${v}\n`,
        }),
    },
  ];

  it.each(routes)(
    '$route: the same key with another body is a 409 idempotency_conflict and enqueues nothing; the same body replays',
    async ({ queue, send }) => {
      const first = await idOf(await send('key-1', 'a'));
      const jobs = await jobCount(queue);
      expect(jobs).toBeGreaterThan(0);

      const conflict = await send('key-1', 'b');
      expect(conflict.status).toBe(409);
      expect(conflict.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const problem = (await conflict.json()) as Problem;
      expect(problem).toMatchObject({ status: 409, code: 'idempotency_conflict' });
      expect(problem.errors.map((e) => e.path)).toEqual(['Idempotency-Key']);
      expect(await jobCount(queue)).toBe(jobs);

      const replay = await send('key-1', 'a');
      expect(replay.headers.get(REPLAYED_HEADER)).toBe('true');
      expect(await idOf(replay)).toBe(first);
      expect(await jobCount(queue)).toBe(jobs);

      // Another key is another request: the second body is accepted under it.
      expect(await idOf(await send('key-2', 'b'))).not.toBe(first);
    },
  );

  it('an artifact upload refused (409) or replayed leaves only the first request in the spool', async () => {
    const upload = routes.find((r) => r.route === 'POST /v1/artifacts/{kind}')!;
    await idOf(await upload.send('spool-1', 'a'));
    expect((await upload.send('spool-1', 'b')).status).toBe(409);
    expect((await upload.send('spool-1', 'a')).headers.get(REPLAYED_HEADER)).toBe('true');
    expect(await readdir(overrides.SPOOL_DIR!)).toHaveLength(1);
  });

  it('two API keys using the same key value get two flows, and both batches and watermarks are stored', async () => {
    await world.startWorker(['ingest']);
    const x = {
      source_id: 'collector-x',
      iocs: batch(6, 'x', 'x'),
      watermark: { timestamp: '2026-02-01T10:00:00Z' },
    };
    const y = {
      source_id: 'collector-y',
      iocs: batch(4, 'y', 'y'),
      watermark: { timestamp: '2026-02-01T11:00:00Z' },
    };
    const ax = await postJson('/v1/ingest/iocs', x, 'run-42', TEST_KEYS.ingest);
    const ay = await postJson('/v1/ingest/iocs', y, 'run-42', TEST_KEYS.admin);
    expect(ay.headers.get(REPLAYED_HEADER)).toBeNull();
    const bx = (await ax.json()) as { id: string; replayed: boolean; source_id: string };
    const by = (await ay.json()) as { id: string; replayed: boolean; source_id: string };
    expect(bx).toMatchObject({ source_id: 'collector-x', replayed: false });
    expect(by).toMatchObject({ source_id: 'collector-y', replayed: false });
    expect(by.id).not.toBe(bx.id);

    for (const id of [bx.id, by.id]) {
      await eventually(
        async () =>
          (await (await Job.fromId(world.queues.get('ingest'), id))?.getState()) === 'completed'
            ? true
            : undefined,
        60_000,
        `flow ${id}`,
      );
    }
    const values = (
      await world.deps.hotStore.findHot({ minConfidence: 0, since: new Date(0), limit: 1000 })
    )
      .map((r) => r.value)
      .sort();
    expect(values).toEqual([...x.iocs, ...y.iocs].map((i) => i.value).sort());
    for (const [source, ts] of [
      ['collector-x', '2026-02-01T10:00:00Z'],
      ['collector-y', '2026-02-01T11:00:00Z'],
    ] as const) {
      const res = await fetch(`${base}/api/v1/watermarks/${source}`, {
        headers: { authorization: `Bearer ${TEST_KEYS.read}` },
      });
      expect(await res.json()).toMatchObject({ source_id: source, last_successful_timestamp: ts });
    }
  });

  it('two API keys using the same key value on the generic route get two jobs', async () => {
    const body = { iocs: batch(1, 'gen', 'same') };
    const a = await idOf(await postJson('/v1/jobs/iocs.insert', body, 'k', TEST_KEYS.ingest));
    const b = await idOf(await postJson('/v1/jobs/iocs.insert', body, 'k', TEST_KEYS.admin));
    expect(a).not.toBe(b);
    expect(await jobCount('ingest')).toBe(2);
  });

  it('the same key and body replays the first answer after the job was removed, without a new job', async () => {
    const body = { iocs: batch(2, 'gone', 'g') };
    const first = await postJson('/v1/jobs/iocs.insert', body, 'gone-1');
    const answer = (await first.json()) as { id: string };
    await (await world.queues.get('ingest').getJob(answer.id))!.remove();
    expect(await jobCount('ingest')).toBe(0);

    const replay = await postJson('/v1/jobs/iocs.insert', body, 'gone-1');
    expect(replay.status).toBe(202);
    expect(replay.headers.get(REPLAYED_HEADER)).toBe('true');
    expect(replay.headers.get('location')).toBe(`/v1/jobs/${answer.id}`);
    expect(await replay.json()).toEqual(answer);
    expect(await jobCount('ingest')).toBe(0);
  });

  it('an ingest flow removed after completing is replayed with its first answer', async () => {
    await world.startWorker(['ingest']);
    const request = {
      source_id: 'gone',
      iocs: batch(12, 'gone', 'f'),
      watermark: { timestamp: '2026-03-01T00:00:00Z' },
    };
    const first = (await (await postJson('/v1/ingest/iocs', request, 'flow-1')).json()) as {
      id: string;
      children: string[];
    };
    expect(first.children).toHaveLength(3);
    // The answer names the real children: a client can follow each of them.
    for (const child of first.children) {
      expect((await world.queues.get('ingest').getJob(child))?.name).toBe('iocs.insert');
    }
    await eventually(async () =>
      (await (await Job.fromId(world.queues.get('ingest'), first.id))?.getState()) === 'completed'
        ? true
        : undefined,
    );
    await (await world.queues.get('ingest').getJob(first.id))!.remove();
    expect(await jobCount('ingest')).toBe(0);

    const replay = await postJson('/v1/ingest/iocs', request, 'flow-1');
    expect(replay.headers.get(REPLAYED_HEADER)).toBe('true');
    expect(await replay.json()).toEqual({ ...first, replayed: true });
    expect(await jobCount('ingest')).toBe(0);
  });

  it('concurrent identical requests with one key make one job; with different bodies exactly one wins', async () => {
    const body = { iocs: batch(1, 'race', 'r') };
    const same = await Promise.all(
      Array.from({ length: 8 }, () => postJson('/v1/jobs/iocs.insert', body, 'race-1').then(idOf)),
    );
    expect(new Set(same).size).toBe(1);
    expect(await jobCount('ingest')).toBe(1);

    const flow = {
      source_id: 'race',
      iocs: batch(11, 'race', 'f'),
      watermark: { timestamp: '2026-03-02T00:00:00Z' },
    };
    const flows = await Promise.all(
      Array.from({ length: 8 }, () => postJson('/v1/ingest/iocs', flow, 'race-2').then(idOf)),
    );
    expect(new Set(flows).size).toBe(1);
    // One parent and its three children.
    expect(await jobCount('ingest')).toBe(1 + 4);

    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        postJson('/v1/jobs/iocs.insert', { iocs: batch(1, 'race', `d${i}`) }, 'race-3'),
      ),
    );
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses).toEqual([202, 409, 409, 409, 409, 409]);
    expect(await jobCount('ingest')).toBe(1 + 4 + 1);
  });

  it('the key record lives for IDEMPOTENCY_TTL_HOURS, whatever the job retention', async () => {
    await idOf(await postJson('/v1/jobs/iocs.insert', { iocs: batch(1, 'ttl', 't') }, 'ttl-1'));
    const record = world.deps.idempotency.redisKey({
      caller: 'ingest-client',
      route: 'POST /v1/jobs/{type}',
      key: 'ttl-1',
    });
    const ttl = await world.deps.redis.ttl(record);
    expect(ttl).toBeGreaterThan(TTL_HOURS * 3600 - 30);
    expect(ttl).toBeLessThanOrEqual(TTL_HOURS * 3600);
  });

  it('a request refused before enqueueing frees its key for the corrected request', async () => {
    const bad = await postJson('/v1/jobs/iocs.insert', { iocs: [{ type: 'domain' }] }, 'fix-1');
    expect(bad.status).toBe(400);
    const good = await postJson('/v1/jobs/iocs.insert', { iocs: batch(1, 'fix', 'f') }, 'fix-1');
    expect(good.status).toBe(202);
    expect(good.headers.get(REPLAYED_HEADER)).toBeNull();
  });

  it('a key claimed by a request that never answered (a crash, a 503) completes on the retry', async () => {
    const body = { iocs: batch(1, 'crash', 'c') };
    const id = { caller: 'ingest-client', route: 'POST /v1/jobs/{type}', key: 'crash-1' };
    const digest = requestDigest({ type: 'iocs.insert', payload: body });
    expect(await world.deps.idempotency.claim(id, digest)).toEqual({ outcome: 'proceed' });

    const retry = await postJson('/v1/jobs/iocs.insert', body, 'crash-1');
    const jobId = await idOf(retry);
    expect(retry.headers.get(REPLAYED_HEADER)).toBeNull();
    const again = await postJson('/v1/jobs/iocs.insert', body, 'crash-1');
    expect(again.headers.get(REPLAYED_HEADER)).toBe('true');
    expect(await idOf(again)).toBe(jobId);
    expect(await jobCount('ingest')).toBe(1);
  });

  it("an application's idempotencyKey has its own namespace, apart from every API key's", async () => {
    const body = { iocs: batch(1, 'app', 'a') };
    const viaApi = await idOf(await postJson('/v1/jobs/iocs.insert', body, 'shared'));
    const app1 = await world.producer.enqueue('iocs.insert', body, { idempotencyKey: 'shared' });
    const app2 = await world.producer.enqueue('iocs.insert', body, { idempotencyKey: 'shared' });
    expect(app1.id).toBe(app2.id);
    expect(app1.id).not.toBe(viaApi);
    expect(await jobCount('ingest')).toBe(2);
  });
});
