// Timestamps out of bounds (9999-12-31, 1990-01-01) against every route that takes one:
// each answer is a 400 naming the field, and nothing is enqueued or written. Values just
// inside the bounds are accepted, and a job accepted near the future bound still runs.
import { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';

const FAR_FUTURE = '9999-12-31T00:00:00Z';
const FAR_PAST = '1990-01-01T00:00:00Z';
const OUT_OF_BOUNDS = [
  [FAR_FUTURE, /^must not be after \S+Z \(now \+ \d+ s\)$/],
  [FAR_PAST, /^must not be before 2000-01-01T00:00:00Z$/],
] as const;

const ioc = (first_seen: string, last_seen: string, value = 'evil.example.com') => ({
  type: 'domain',
  value,
  threat_type: 'c2',
  confidence: 0.9,
  first_seen,
  last_seen,
});

interface Problem {
  code: string;
  errors?: { path: string; message: string }[];
}

/** A world with an api (no worker: what is refused must not even be enqueued). */
function apiWorld(overrides: Record<string, string> = {}) {
  let world: StowageWorld;
  let base: string;
  const send = async (method: string, path: string, body: unknown, key: string) =>
    fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  /** Every job in every queue, whatever its state. */
  const jobCount = async () => {
    let total = 0;
    for (const queue of world.queues.all()) {
      const counts = await queue.getJobCounts();
      total += Object.values(counts).reduce((a, b) => a + b, 0);
    }
    return total;
  };
  beforeAll(async () => {
    world = new StowageWorld(overrides);
    await world.initStores();
    base = await world.startApi();
  });
  afterAll(async () => {
    await world.close();
  });
  return { world: () => world, send, jobCount };
}

describe('out-of-bounds timestamps are refused on every route, naming the field', () => {
  const { world, send, jobCount } = apiWorld();
  const refused = async (res: Response, path: string, message: RegExp) => {
    expect(res.status).toBe(400);
    const problem = (await res.json()) as Problem;
    expect(problem.code).toBe('invalid_payload');
    expect(problem.errors).toEqual([{ path, message: expect.stringMatching(message) }]);
  };

  it.each(OUT_OF_BOUNDS)(
    'POST /v1/ingest/iocs: first_seen, last_seen and watermark.timestamp %s',
    async (bad, message) => {
      const ok = '2026-01-01T00:00:00Z';
      const good = ioc(ok, ok, 'good.example.com');
      const lastSeen = bad === FAR_FUTURE ? bad : ok;
      const firstSeen = bad === FAR_PAST ? bad : ok;
      const path = bad === FAR_FUTURE ? 'iocs.3.last_seen' : 'iocs.3.first_seen';
      await refused(
        await send(
          'POST',
          '/v1/ingest/iocs',
          { source_id: 'otx', iocs: [good, good, good, ioc(firstSeen, lastSeen)] },
          TEST_KEYS.ingest,
        ),
        path,
        message,
      );
      await refused(
        await send(
          'POST',
          '/v1/ingest/iocs',
          { source_id: 'otx', iocs: [good], watermark: { timestamp: bad } },
          TEST_KEYS.ingest,
        ),
        'watermark.timestamp',
        message,
      );
      expect(await jobCount()).toBe(0);
      expect(await world().deps.watermarks.get('otx')).toBeUndefined();
    },
  );

  it.each(OUT_OF_BOUNDS)('PUT /api/v1/watermarks/{source_id} %s', async (bad, message) => {
    for (const status of ['success', 'failed']) {
      await refused(
        await send('PUT', '/api/v1/watermarks/otx', { timestamp: bad, status }, TEST_KEYS.ingest),
        'timestamp',
        message,
      );
    }
    expect(await world().deps.watermarks.get('otx')).toBeUndefined();
    expect(await world().deps.watermarks.history('otx')).toEqual([]);
  });

  it.each(OUT_OF_BOUNDS)(
    'POST /v1/jobs/{type} for iocs.insert, watermark.commit and archive.lock %s',
    async (bad, message) => {
      const ok = '2026-01-01T00:00:00Z';
      await refused(
        await send(
          'POST',
          '/v1/jobs/iocs.insert',
          {
            iocs: [
              { ...ioc(ok, ok), source: 'otx' },
              { ...ioc(bad === FAR_PAST ? bad : ok, bad === FAR_FUTURE ? bad : ok), source: 'otx' },
            ],
          },
          TEST_KEYS.ingest,
        ),
        bad === FAR_FUTURE ? 'iocs.1.last_seen' : 'iocs.1.first_seen',
        message,
      );
      await refused(
        await send(
          'POST',
          '/v1/jobs/iocs.insert/bulk',
          {
            payloads: [
              { iocs: [{ ...ioc(ok, ok), source: 'otx' }] },
              {
                iocs: [
                  {
                    ...ioc(ok, bad === FAR_FUTURE ? bad : ok, 'x.example.com'),
                    first_seen: bad === FAR_PAST ? bad : ok,
                    source: 'otx',
                  },
                ],
              },
            ],
          },
          TEST_KEYS.ingest,
        ),
        bad === FAR_FUTURE ? 'payloads.1.iocs.0.last_seen' : 'payloads.1.iocs.0.first_seen',
        message,
      );
      await refused(
        await send(
          'POST',
          '/v1/jobs/watermark.commit',
          { source_id: 'otx', timestamp: bad, status: 'success' },
          TEST_KEYS.ingest,
        ),
        'timestamp',
        message,
      );
      const day = bad.slice(0, 10);
      const dayMessage =
        bad === FAR_FUTURE ? /^must not be after/ : /^must not be before 2000-01-01$/;
      await refused(
        await send('POST', '/v1/jobs/archive.lock', { day }, TEST_KEYS.admin),
        'day',
        dayMessage,
      );
      await refused(
        await send('POST', '/v1/maintenance/archive.lock', { day }, TEST_KEYS.admin),
        'day',
        dayMessage,
      );
      expect(await jobCount()).toBe(0);
    },
  );

  it('values just inside the bounds are accepted: the floor, and a minute short of now + the skew', async () => {
    const floor = '2000-01-01T00:00:00Z';
    const ahead = new Date(Date.now() + 900_000 - 60_000).toISOString();
    const ingest = await send(
      'POST',
      '/v1/ingest/iocs',
      { source_id: 'edge', iocs: [ioc(floor, ahead)], watermark: { timestamp: ahead } },
      TEST_KEYS.ingest,
    );
    expect(ingest.status).toBe(202);
    const put = await send(
      'PUT',
      '/api/v1/watermarks/edge-put',
      { timestamp: ahead, status: 'success' },
      TEST_KEYS.ingest,
    );
    expect(put.status).toBe(201);
    const job = await send(
      'POST',
      '/v1/jobs/watermark.commit',
      { source_id: 'edge-job', timestamp: floor, status: 'success' },
      TEST_KEYS.ingest,
    );
    expect(job.status).toBe(202);
    const archive = await send(
      'POST',
      '/v1/jobs/archive.lock',
      { day: '2000-01-01' },
      TEST_KEYS.admin,
    );
    expect(archive.status).toBe(202);
    // The flow's parent and child, the commit and the archive run: four jobs.
    expect(await jobCount()).toBe(4);
  });
});

describe('a job accepted near the future bound still parses in the worker later', () => {
  // A 5 s skew, so the job runs after its last_seen has stopped being "in the future" at
  // the api's clock; the worker re-validates the payload and must accept it.
  const { world, send } = apiWorld({ TIMESTAMP_FUTURE_SKEW_SECONDS: '5' });

  it('an ingest flow with last_seen 4 s ahead completes after the clock has passed it', async () => {
    const ahead = new Date(Date.now() + 4_000).toISOString();
    const res = await send(
      'POST',
      '/v1/ingest/iocs',
      {
        source_id: 'edge',
        iocs: [ioc('2026-01-01T00:00:00Z', ahead)],
        watermark: { timestamp: ahead },
      },
      TEST_KEYS.ingest,
    );
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    // Start the worker only once now has moved past the accepted instant.
    await new Promise((r) => setTimeout(r, 4_500));
    expect(Date.now()).toBeGreaterThan(new Date(ahead).getTime());
    await world().startWorker(['ingest']);
    const state = await eventually(
      async () => {
        const job = await Job.fromId(world().queues.get('ingest'), id);
        const s = await job?.getState();
        return s === 'completed' || s === 'failed' ? s : undefined;
      },
      30_000,
      'flow finished',
    );
    expect(state).toBe('completed');
    expect((await world().deps.hotStore.get('domain', 'evil.example.com'))?.last_seen).toEqual(
      new Date(ahead),
    );
    expect((await world().deps.watermarks.get('edge'))?.last_successful_timestamp).toEqual(
      new Date(ahead),
    );
  });
});

describe('the bounds come from the configuration', () => {
  const { world, send } = apiWorld({ TIMESTAMP_FLOOR: '1980-01-01T00:00:00Z' });

  it('a floor of 1980 accepts 1990 on ingest and watermarks, and still refuses 9999', async () => {
    const ok = await send(
      'PUT',
      '/api/v1/watermarks/legacy',
      { timestamp: FAR_PAST, status: 'success' },
      TEST_KEYS.ingest,
    );
    expect(ok.status).toBe(201);
    expect((await world().deps.watermarks.get('legacy'))?.last_successful_timestamp).toEqual(
      new Date(FAR_PAST),
    );
    const ingest = await send(
      'POST',
      '/v1/ingest/iocs',
      { source_id: 'legacy', iocs: [ioc(FAR_PAST, FAR_PAST)] },
      TEST_KEYS.ingest,
    );
    expect(ingest.status).toBe(202);
    const future = await send(
      'PUT',
      '/api/v1/watermarks/legacy',
      { timestamp: FAR_FUTURE, status: 'success' },
      TEST_KEYS.ingest,
    );
    expect(future.status).toBe(400);
  });
});
