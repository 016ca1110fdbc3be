import { Job } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoredActivity } from '../../src/domain/activity.js';
import { stagedBody, type StagedBatch } from '../../src/domain/staged-batch.js';
import { StowageClient } from '../../src/sdk/index.js';
import { TransientError } from '../../src/errors/index.js';
import { connectProducer } from '../../queues/index.js';
import { StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';

const DAY = 86_400_000;
// Three days ago at 00:00 UTC: far enough back that a whole day fits before now.
const DAY0 = Math.floor(Date.now() / DAY) * DAY - 3 * DAY;
const at = (ms: number) => new Date(DAY0 + ms).toISOString();

/** n dns_query events from `offset`, one a minute from DAY0 + startMs. */
function events(n: number, options: { offset?: number; startMs?: number; source?: string } = {}) {
  const { offset = 0, startMs = 0, source = 'dns' } = options;
  return Array.from({ length: n }, (_, i) => ({
    event_id: `evt_${offset + i}`,
    timestamp: at(startMs + (offset + i) * 60_000),
    source,
    event_type: 'dns_query',
    domain: `host-${offset + i}.example.com`,
  }));
}

describe.each(['postgres', 'clickhouse'] as const)('activity events on %s', (hotStore) => {
  let world: StowageWorld;
  let base: string;
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TEST_KEYS.ingest}`,
        'content-type': 'application/json',
        ...headers,
      },
      body: JSON.stringify(body),
    });
  const get = (path: string) =>
    fetch(`${base}${path}`, { headers: { authorization: `Bearer ${TEST_KEYS.read}` } });
  const stored = (n: number) =>
    eventually(
      async () => ((await world.deps.activities.count()) === n ? n : undefined),
      30_000,
      `${n} activities stored`,
    );
  const search = async (query: Record<string, string>) => {
    const res = await get(`/v1/activities?${new URLSearchParams(query).toString()}`);
    expect(res.status).toBe(200);
    return (await res.json()) as {
      activities: StoredActivity[];
      next_cursor: string | null;
      start_time: string;
      end_time: string;
    };
  };

  beforeEach(async () => {
    world = new StowageWorld({
      HOT_STORE: hotStore,
      INGEST_CHUNK_SIZE: '40',
      INGEST_MAX_IOCS: '500',
    });
    await world.initStores();
    base = await world.startApi();
  });
  afterEach(async () => {
    await world.close();
  });

  it('a bad record is a 400 naming its index and field, and nothing is enqueued', async () => {
    const batch = events(3);
    const res = await post('/v1/ingest/activities', {
      activities: [
        batch[0],
        { ...batch[1], source: 'carrier_pigeon' },
        { ...batch[2], timestamp: '9999-01-01T00:00:00Z' },
      ],
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: { path: string }[] };
    const paths = body.errors.map((e) => e.path);
    expect(paths).toContain('activities.1.source');
    expect(paths).toContain('activities.2.timestamp');
    const unknown = await post('/v1/ingest/activities', {
      activities: [{ ...batch[0], colour: 'red' }],
    });
    expect(unknown.status).toBe(400);
    expect(JSON.stringify(await unknown.json())).toContain('activities.0.colour');
    const orphan = await post('/v1/ingest/activities', {
      activities: batch,
      watermark: { timestamp: at(0) },
    });
    expect(orphan.status).toBe(400);
    expect(JSON.stringify(await orphan.json())).toContain('source_id');
    expect(await world.queues.get('ingest').count()).toBe(0);
  });

  it('a watermark flow inserts every chunk, then commits the watermark', async () => {
    await world.startWorker(['ingest']);
    const res = await post('/v1/ingest/activities', {
      source_id: 'mde_logs',
      activities: events(100),
      watermark: { timestamp: at(DAY / 2) },
    });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { id: string; chunks: number; activities: number };
    expect(body).toMatchObject({ chunks: 3, activities: 100 });
    await eventually(
      async () => {
        const job = await Job.fromId(world.queues.get('ingest'), body.id);
        return (await job?.getState()) === 'completed' ? true : undefined;
      },
      60_000,
      'flow completed',
    );
    expect(await world.deps.activities.count()).toBe(100);
    const wm = (await (await get('/api/v1/watermarks/mde_logs')).json()) as Record<string, unknown>;
    expect(wm).toMatchObject({
      last_successful_timestamp: at(DAY / 2).replace('.000Z', 'Z'),
      records_collected: 100,
    });
  });

  it('a replayed request and a retried job store each event once; the first write wins', async () => {
    const request = { activities: events(60) };
    // Enqueued before any worker runs, so the staged reference can be read back.
    const first = (await (await post('/v1/ingest/activities', request)).json()) as {
      jobs: { id: string }[];
    };
    expect(first.jobs).toHaveLength(2);
    const job = await Job.fromId(world.queues.get('ingest'), first.jobs[0]!.id);
    const staged = (job!.data as { batch: StagedBatch }).batch;
    expect(staged.records).toBe(40);

    await world.startWorker(['ingest']);
    await stored(60);
    const again = (await (await post('/v1/ingest/activities', request)).json()) as {
      jobs: { id: string }[];
    };
    expect(again.jobs.map((j) => j.id)).toEqual(first.jobs.map((j) => j.id));
    // The same events under another key are new jobs that insert nothing, and a changed
    // copy of a stored event does not overwrite it.
    const changed = events(60).map((e, i) => (i === 0 ? { ...e, domain: 'changed.example' } : e));
    const other = await post(
      '/v1/ingest/activities',
      { activities: changed },
      {
        'Idempotency-Key': 'another-key',
      },
    );
    expect(other.status).toBe(202);
    const otherJobs = ((await other.json()) as { jobs: { id: string }[] }).jobs;
    await eventually(async () => {
      const states = await Promise.all(
        otherJobs.map(async (j) =>
          (await Job.fromId(world.queues.get('ingest'), j.id))?.getState(),
        ),
      );
      return states.every((s) => s === 'completed' || s === undefined) ? true : undefined;
    }, 30_000);
    // A retry of the first job (the worker died after its insert) inserts nothing.
    const retried = world.deps.activities.insertStaged
      ? await world.deps.activities.insertStaged(job!.id!, staged)
      : await world.deps.activities.insert(
          JSON.parse(await world.deps.batches.load(job!.id!, staged)) as StoredActivity[],
        );
    expect(retried.written).toBe(0);
    expect(await world.deps.activities.count()).toBe(60);
    const page = await search({ start_time: at(0), end_time: at(DAY), limit: '1' });
    expect(page.activities[0]).toMatchObject({ event_id: 'evt_0', domain: 'host-0.example.com' });
  });

  it('search filters by source and type, caps the window and pages stably under inserts', async () => {
    await world.deps.activities.insert([
      ...events(30).map((e) => ({
        ...e,
        source: 'dns' as const,
        event_type: 'dns_query' as const,
      })),
      ...events(10, { offset: 100 }).map((e) => ({
        ...e,
        source: 'proxy' as const,
        event_type: 'http_request' as const,
      })),
    ]);
    const window = { start_time: at(0), end_time: at(DAY) };
    const proxy = await search({ ...window, source: 'proxy' });
    expect(proxy.activities).toHaveLength(10);
    expect(proxy.activities.every((a) => a.source === 'proxy')).toBe(true);
    const queries = await search({ ...window, event_type: 'dns_query' });
    expect(queries.activities).toHaveLength(30);
    const narrow = await search({ start_time: at(0), end_time: at(10 * 60_000) });
    expect(narrow.activities.map((a) => a.event_id)).toEqual(
      Array.from({ length: 10 }, (_, i) => `evt_${i}`),
    );

    const tooWide = await get(
      `/v1/activities?${new URLSearchParams({ start_time: at(0), end_time: at(8 * DAY) }).toString()}`,
    );
    expect(tooWide.status).toBe(400);
    expect(JSON.stringify(await tooWide.json())).toContain('start_time');
    for (const [query, field] of [
      ['limit=1001', 'limit'],
      ['source=nope', 'source'],
      ['cursor=garbage', 'cursor'],
      ['start_time=yesterday', 'start_time'],
    ] as const) {
      const res = await get(`/v1/activities?${query}`);
      expect(res.status, query).toBe(400);
      expect(JSON.stringify(await res.json()), query).toContain(field);
    }

    // Page through 40 events 7 at a time, inserting events before and after the cursor
    // between pages: every event present from the start is seen exactly once, in order.
    const seen: string[] = [];
    let cursor: string | null = null;
    let round = 0;
    do {
      const page = await search({ ...window, limit: '7', ...(cursor ? { cursor } : {}) });
      seen.push(...page.activities.map((a) => `${a.timestamp}/${a.event_id}/${a.source}`));
      cursor = page.next_cursor;
      round++;
      await world.deps.activities.insert([
        // Before every cursor (at 00:00:00.500): never seen by this pass.
        {
          event_id: `late_${round}`,
          timestamp: at(500),
          source: 'edr',
          event_type: 'process_start',
        },
      ]);
    } while (cursor !== null);
    expect(seen).toHaveLength(40);
    expect(new Set(seen).size).toBe(40);
    expect([...seen].sort()).toEqual(seen);
    expect(seen.some((s) => s.includes('late_'))).toBe(false);

    const stats = (await (
      await get(`/v1/activities/stats?${new URLSearchParams(window).toString()}`)
    ).json()) as { total: number; counts: { source: string; event_type: string; count: number }[] };
    expect(stats.counts).toContainEqual({ source: 'proxy', event_type: 'http_request', count: 10 });
    expect(stats.counts).toContainEqual({ source: 'dns', event_type: 'dns_query', count: 30 });
    expect(stats.total).toBe(40 + round);
  });

  it("the SDK stores and finds seed 000's activity, and pages with next_cursor", async () => {
    await world.startWorker(['ingest']);
    const client = new StowageClient({ baseUrl: base, apiKey: TEST_KEYS.admin });
    // store_activity(NormalizedActivity(event_id="evt_123", source=DNS, event_type=DNS_QUERY, domain="evil.com"))
    const accepted = await client.ingestActivities({
      source_id: 'dns_logs',
      activities: [
        {
          event_id: 'evt_123',
          timestamp: new Date(DAY0 + 1_000),
          source: 'dns',
          event_type: 'dns_query',
          domain: 'Evil.com',
        },
        ...events(4, { offset: 1, source: 'dns' }).map((e) => ({
          ...e,
          source: 'dns' as const,
          event_type: 'dns_query' as const,
        })),
      ],
      watermark: { timestamp: new Date(DAY0 + DAY) },
    });
    expect(accepted).toMatchObject({ type: 'watermark.commit', activities: 5 });
    await stored(5);
    const window = { start_time: new Date(DAY0), end_time: new Date(DAY0 + DAY) };
    // search_activities(source="dns", start_time=…, limit=…)
    const first = await client.searchActivities({ source: 'dns', ...window, limit: 3 });
    expect(first.activities[0]).toMatchObject({ event_id: 'evt_123', domain: 'evil.com' });
    expect(first.next_cursor).not.toBeNull();
    const rest = await client.searchActivities({
      source: 'dns',
      ...window,
      limit: 3,
      cursor: first.next_cursor!,
    });
    expect(rest.activities).toHaveLength(2);
    expect(rest.next_cursor).toBeNull();
    expect(await client.activityStats(window)).toMatchObject({
      total: 5,
      counts: [{ source: 'dns', event_type: 'dns_query', count: 5 }],
    });
  });

  it('the in-process producer ingests a batch as the api does, errors naming the field', async () => {
    const connection = await connectProducer({
      redisUrl: world.config.REDIS_URL,
      queuePrefix: world.config.QUEUE_PREFIX,
      databaseUrl: world.config.DATABASE_URL,
      databaseSchema: world.config.DATABASE_SCHEMA,
      ingest: { maxIocs: 500, chunkSize: 25 },
    });
    try {
      await expect(
        connection.ingestActivities({ activities: [{ ...events(1)[0], event_type: 'nope' }] }),
      ).rejects.toMatchObject({ issues: [{ path: 'activities.0.event_type' }] });
      const result = await connection.ingestActivities({ activities: events(30) });
      expect(result).toMatchObject({ activities: 30 });
      expect('jobs' in result && result.jobs).toHaveLength(2);
      await world.startWorker(['ingest']);
      await stored(30);
    } finally {
      await connection.close();
    }
  });

  it('a stored event reads back as it was sent: every optional field, unicode, attributes', async () => {
    const full = {
      event_id: 'évt/ü😀 1',
      timestamp: at(123),
      source: 'mde' as const,
      event_type: 'process_start' as const,
      domain: 'xn--bcher-kva.example',
      ip: '2001:db8::1',
      src_ip: '10.0.0.1',
      dst_ip: '192.0.2.7',
      url: "https://example.com/a?b=c&d='e'",
      file_hash: 'd41d8cd98f00b204e9800998ecf8427e',
      user: 'CORP\\alice',
      hostname: 'ws-01',
      process_name: 'powershell.exe',
      command_line: 'powershell -enc "QQ=="',
      attributes: { nested: { n: 1.5, list: [1, 'two', null], big: 2 ** 53 }, emoji: '😀' },
    };
    await world.deps.activities.insert([full]);
    const page = await search({ start_time: at(0), end_time: at(1_000) });
    expect(page.activities).toEqual([full]);
  });

  it('events go to one partition a UTC day', async () => {
    await world.deps.activities.insert([
      { event_id: 'a', timestamp: at(1_000), source: 'dns', event_type: 'dns_query' },
      { event_id: 'b', timestamp: at(DAY + 1_000), source: 'dns', event_type: 'dns_query' },
      { event_id: 'c', timestamp: at(DAY - 1), source: 'auth_logs', event_type: 'logon' },
    ]);
    const day = (ms: number) => at(ms).slice(0, 10);
    expect(await world.deps.activities.days()).toEqual([day(0), day(DAY)]);
    if (hotStore === 'postgres') {
      const { rows } = await world.deps.pg.query<{ name: string; bound: string }>(
        `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = $1::regclass ORDER BY c.relname`,
        [`${world.config.DATABASE_SCHEMA}.activities`],
      );
      expect(rows.map((r) => r.name)).toEqual([
        `activities_p${day(0).replaceAll('-', '')}`,
        `activities_p${day(DAY).replaceAll('-', '')}`,
      ]);
      expect(rows[0]!.bound).toContain(day(0));
    }
    // Concurrent inserts into a new day all succeed (one creates the partition).
    await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        world.deps.activities.insert([
          {
            event_id: `new_${i}`,
            timestamp: at(2 * DAY + i),
            source: 'dns',
            event_type: 'dns_query',
          },
        ]),
      ),
    );
    expect(await world.deps.activities.days()).toEqual([day(0), day(DAY), day(2 * DAY)]);
    expect(await world.deps.activities.count()).toBe(7);
  });

  it.runIf(hotStore === 'clickhouse')(
    'replays not yet merged come back once, the first write, and the cursor pages across them',
    async () => {
      const table = `${world.config.CLICKHOUSE_DATABASE}.activities`;
      const ch = world.deps.clickhouse;
      // Rows straight into the table, as a replay that raced the insert's check leaves them.
      const raw = (records: StoredActivity[]) =>
        ch.insert({
          table,
          format: 'JSONEachRow',
          values: records.map((r) => ({
            day: r.timestamp.slice(0, 10),
            source: r.source,
            timestamp_ms: Date.parse(r.timestamp),
            event_id: r.event_id,
            event_type: r.event_type,
            record: JSON.stringify(r),
          })),
        });
      const serverSecond = async () => {
        const rows = await (
          await ch.query({ query: 'SELECT toUInt32(now()) AS s', format: 'JSONEachRow' })
        ).json<{ s: number | string }>();
        return Number(rows[0]!.s);
      };
      // Day 0: the first writes, then (a server second later, so a lower `ver`) changed copies.
      const firsts = events(5) as StoredActivity[];
      await raw(firsts);
      const written = await serverSecond();
      await eventually(
        async () => ((await serverSecond()) > written ? true : undefined),
        10_000,
        'the server clock passes a second',
      );
      await raw(firsts.map((e) => ({ ...e, domain: 'replay.example' })));
      // Day 1: every event twice in one insert, so one part holds both copies: a single part
      // is never merged, so the duplicates are certainly still there when the search reads.
      const doubled = events(3, { offset: 10, startMs: DAY, source: 'edr' }) as StoredActivity[];
      await raw([...doubled, ...doubled]);

      const pages: StoredActivity[][] = [];
      let cursor: string | null = null;
      do {
        const query: Record<string, string> = {
          start_time: at(0),
          end_time: at(2 * DAY),
          limit: '2',
        };
        if (cursor !== null) query.cursor = cursor;
        const page = await search(query);
        pages.push(page.activities);
        cursor = page.next_cursor;
      } while (cursor !== null && pages.length < 10);
      const ids = pages.flat().map((a) => a.event_id);
      expect(ids).toEqual([...firsts.map((e) => e.event_id), ...doubled.map((e) => e.event_id)]);
      expect(pages.map((p) => p.length)).toEqual([2, 2, 2, 2]);
      expect(pages.flat().slice(0, 5)).toEqual(firsts);
      expect(pages.flat().slice(5)).toEqual(doubled);
      // A filter keeps one row a key too.
      const edr = await search({ start_time: at(0), end_time: at(2 * DAY), source: 'edr' });
      expect(edr.activities).toEqual(doubled);
      const [copies] = await (
        await ch.query({
          query: `SELECT count() AS n FROM ${table} WHERE source = 'edr'`,
          format: 'JSONEachRow',
        })
      ).json<{ n: number | string }>();
      expect(Number(copies!.n)).toBe(6);
    },
  );

  it.runIf(hotStore === 'postgres')(
    'a staged batch is inserted by the database: new days get partitions, an altered or missing batch is refused, a replay writes nothing',
    async () => {
      const insertStaged = world.deps.activities.insertStaged!.bind(world.deps.activities);
      const stage = async (jobId: string, records: StoredActivity[]) => {
        const staged = stagedBody(records);
        await world.deps.batches.stage([{ jobId, queue: 'ingest', kind: 'activities', ...staged }]);
        return { digest: staged.digest, records: staged.records };
      };
      // Two days no insert has made yet; one record carries a nested "timestamp" of another day.
      const records: StoredActivity[] = [
        { event_id: 'x1', timestamp: at(5 * DAY + 1), source: 'dns', event_type: 'dns_query' },
        {
          event_id: 'x2',
          timestamp: at(6 * DAY + 2),
          source: 'edr',
          event_type: 'process_start',
          attributes: { timestamp: at(9 * DAY), note: 'ünïcode "quoted"' },
        },
      ];
      const batch = await stage('job-a', records);
      expect(await insertStaged('job-a', batch)).toEqual({ written: 2 });
      const day = (ms: number) => at(ms).slice(0, 10);
      expect(await world.deps.activities.days()).toEqual([day(5 * DAY), day(6 * DAY)]);
      const page = await search({ start_time: at(5 * DAY), end_time: at(7 * DAY) });
      expect(page.activities).toEqual(records);
      // A replay (the job retried after its insert) writes nothing and is not an error.
      expect(await insertStaged('job-a', batch)).toEqual({ written: 0 });

      // Bytes changed after staging: refused, nothing inserted.
      const other = await stage('job-b', [
        { event_id: 'x3', timestamp: at(5 * DAY + 3), source: 'dns', event_type: 'dns_query' },
      ]);
      await world.deps.pg.query(
        `UPDATE "${world.config.DATABASE_SCHEMA}".job_batches
         SET body = replace(body, 'x3', 'x4') WHERE job_id = 'job-b'`,
      );
      await expect(insertStaged('job-b', other)).rejects.toMatchObject({
        code: 'batch_digest_mismatch',
      });
      await expect(insertStaged('job-c', other)).rejects.toMatchObject({
        code: 'batch_not_staged',
      });
      await expect(insertStaged('job-a', { ...batch, records: 3 })).rejects.toMatchObject({
        code: 'batch_digest_mismatch',
      });
      expect(await world.deps.activities.count()).toBe(2);
    },
  );

  it.runIf(hotStore === 'postgres')(
    'an insert into a day whose partition was dropped meanwhile fails transiently, and its retry lands',
    async () => {
      const one = (id: string) => [
        {
          event_id: id,
          timestamp: at(1_000),
          source: 'dns' as const,
          event_type: 'dns_query' as const,
        },
      ];
      await world.deps.activities.insert(one('first'));
      const day = at(0).slice(0, 10).replaceAll('-', '');
      await world.deps.pg.query(`DROP TABLE "${world.config.DATABASE_SCHEMA}".activities_p${day}`);
      await expect(world.deps.activities.insert(one('second'))).rejects.toBeInstanceOf(
        TransientError,
      );
      expect(await world.deps.activities.insert(one('second'))).toEqual({ written: 1 });
      expect(await world.deps.activities.count()).toBe(1);
    },
  );
});
