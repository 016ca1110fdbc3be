import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StowageClient } from '../../src/sdk/index.js';
import type { JobStatus } from '../../src/sdk/index.js';
import { runCli } from '../helpers/cli-process.js';
import { StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';

/** Two tenants' keys (ingest + read), and the admin key of the test world. */
const KEYS = {
  acme: 'acme-key-0123456789abcdef',
  globex: 'globex-key-0123456789abcdef',
};
const API_KEYS = [
  `acme-collector:${KEYS.acme}:ingest+read:acme`,
  `globex-collector:${KEYS.globex}:ingest+read:globex`,
  `admin-client:${TEST_KEYS.admin}:admin`,
].join(',');

const hour = 3_600_000;
const ioc = (value: string) => ({
  type: 'domain',
  value,
  threat_type: 'c2',
  confidence: 0.9,
  first_seen: new Date(Date.now() - 2 * hour).toISOString(),
  last_seen: new Date(Date.now() - hour).toISOString(),
});

describe('job search', () => {
  let world: StowageWorld;
  let base: string;
  const get = async (path: string, key: string) => {
    const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key}` } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const list = async (query: string, key: string) => {
    const res = await get(`/v1/jobs?${query}`, key);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as { jobs: JobStatus[]; next_cursor: string | null };
  };
  const ingest = async (key: string, body: unknown, idempotencyKey?: string) => {
    const res = await fetch(`${base}/v1/ingest/iocs`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
      },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(202);
    return (await res.json()) as { id?: string; children?: string[]; jobs?: { id: string }[] };
  };

  let acmeFlow: { id?: string; children?: string[] };
  let acmeDelayed: string;
  let globexJobs: string[];

  beforeAll(async () => {
    world = new StowageWorld({ API_KEYS });
    await world.initStores();
    base = await world.startApi();
    // acme: a watermark flow (parent waiting-children, child prioritized: ingest is a fair queue) tagged by source and request,
    acmeFlow = await ingest(
      KEYS.acme,
      {
        source_id: 'otx-acme',
        iocs: [ioc('a.search.example.com')],
        watermark: { timestamp: '2026-01-01T00:00:00Z' },
      },
      'req-acme-1',
    );
    // and a delayed job on another queue, enqueued in process on acme's behalf.
    acmeDelayed = (
      await world.producer.enqueue(
        'cache.promote',
        {},
        { delayMs: 3_600_000, origin: { enqueuedBy: 'acme-app', tenant: 'acme' } },
      )
    ).id;
    // globex: two plain insert batches.
    const globex = await ingest(KEYS.globex, {
      source_id: 'otx-globex',
      iocs: [ioc('g1.search.example.com'), ioc('g2.search.example.com')],
    });
    globexJobs = (globex.jobs ?? []).map((j) => j.id);
  }, 60_000);

  afterAll(async () => {
    await world?.close();
  });

  it("a tenant's key finds its own jobs across queues and states, and never another tenant's", async () => {
    const page = await list('', KEYS.acme);
    const ids = page.jobs.map((j) => j.id).sort();
    expect(ids).toEqual([acmeFlow.id, ...(acmeFlow.children ?? []), acmeDelayed].sort());
    expect(new Set(page.jobs.map((j) => j.tenant))).toEqual(new Set(['acme']));
    expect(new Set(page.jobs.map((j) => j.queue))).toEqual(new Set(['ingest', 'cache']));
    expect(new Set(page.jobs.map((j) => j.state))).toEqual(
      new Set(['waiting-children', 'prioritized', 'delayed']),
    );
    expect(page.next_cursor).toBeNull();
    // Newest first.
    const created = page.jobs.map((j) => j.created_at);
    expect([...created].sort().reverse()).toEqual(created);

    const other = await get('/v1/jobs?tenant=globex', KEYS.acme);
    expect(other.status).toBe(403);
    const admin = await list('tenant=globex', TEST_KEYS.admin);
    expect(admin.jobs.map((j) => j.id).sort()).toEqual([...globexJobs].sort());
  });

  it('finds the jobs of a source, of a request and of a state; each answered as job status is, with its dashboard link', async () => {
    const bySource = await list('tag=source:otx-acme', KEYS.acme);
    expect(bySource.jobs.map((j) => j.id).sort()).toEqual(
      [acmeFlow.id, ...(acmeFlow.children ?? [])].sort(),
    );
    const byRequest = await list('tag=request:req-acme-1', TEST_KEYS.admin);
    expect(byRequest.jobs.map((j) => j.id).sort()).toEqual(bySource.jobs.map((j) => j.id).sort());
    const byIoc = await list('tag=ioc:g2.search.example.com', TEST_KEYS.admin);
    expect(byIoc.jobs.map((j) => j.id)).toEqual(globexJobs);
    const delayed = await list('state=delayed', KEYS.acme);
    expect(delayed.jobs.map((j) => j.id)).toEqual([acmeDelayed]);
    const inserts = await list('type=iocs.insert&tenant=acme', TEST_KEYS.admin);
    expect(inserts.jobs.map((j) => j.id)).toEqual(acmeFlow.children);
    expect(
      (await list(`since=${new Date(Date.now() + 60_000).toISOString()}`, KEYS.acme)).jobs,
    ).toEqual([]);

    const one = await get(`/v1/jobs/${acmeFlow.id!}`, KEYS.acme);
    const listed = bySource.jobs.find((j) => j.id === acmeFlow.id);
    expect(listed).toEqual(one.body);
    expect(listed?.dashboard_url).toBe(
      `${world.config.DASHBOARD_PATH}/queue/ingest/${encodeURIComponent(acmeFlow.id!)}`,
    );
    expect(listed?.tags).toEqual(['source:otx-acme', 'request:req-acme-1']);
    expect(listed?.enqueued_by).toBe('acme-collector');
  });

  it('pages with a cursor return every job once, newest first, while more are enqueued', async () => {
    const origin = { enqueuedBy: 'pager', tenant: 'pager' };
    const first = await world.producer.enqueueBulk(
      'cache.promote',
      Array.from({ length: 25 }, () => ({})),
      { origin, delayMs: 3_600_000 },
    );
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await list(
        `tenant=pager&limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        TEST_KEYS.admin,
      );
      seen.push(...page.jobs.map((j) => j.id));
      cursor = page.next_cursor;
      pages++;
      // Newer jobs arrive between pages: they sort before the cursor and never shift it.
      await world.producer.enqueue('cache.promote', {}, { origin, delayMs: 3_600_000 });
    } while (cursor !== null && pages < 10);
    expect(seen.length).toBe(new Set(seen).size);
    expect(seen.sort()).toEqual(first.map((j) => j.id).sort());
    const bad = await get('/v1/jobs?cursor=nonsense', TEST_KEYS.admin);
    expect(bad.status).toBe(400);
  });

  it('a job BullMQ removed on its own leaves the search, and its entry is pruned', async () => {
    const origin = { enqueuedBy: 'pruner', tenant: 'pruner' };
    const [kept, dropped] = await world.producer.enqueueBulk('cache.promote', [{}, {}], {
      origin,
      delayMs: 3_600_000,
    });
    await world.queues.get('cache').remove(dropped!.id);
    const page = await list('tenant=pruner', TEST_KEYS.admin);
    expect(page.jobs.map((j) => j.id)).toEqual([kept!.id]);
    const index = world.producer.search;
    expect(
      await world.deps.redis.zscore(
        index.key({ kind: 'tenant', value: 'pruner' }),
        `cache:${dropped!.id}`,
      ),
    ).toBeNull();
  });

  it('the SDK lists every page and removes a job; only an admin key may remove', async () => {
    const acme = new StowageClient({ baseUrl: base, apiKey: KEYS.acme, retry: false });
    const admin = new StowageClient({ baseUrl: base, apiKey: TEST_KEYS.admin, retry: false });
    const all: string[] = [];
    for await (const job of acme.listAllJobs({ tag: 'source:otx-acme', limit: 1 })) {
      all.push(job.id);
    }
    expect(all.sort()).toEqual([acmeFlow.id, ...(acmeFlow.children ?? [])].sort());

    const victim = (
      await world.producer.enqueue(
        'cache.promote',
        {},
        { delayMs: 3_600_000, origin: { enqueuedBy: 'x', tenant: 'acme' } },
      )
    ).id;
    await expect(acme.removeJob(victim)).rejects.toMatchObject({ status: 403 });
    expect(await admin.removeJob(victim)).toEqual({ id: victim, queue: 'cache', state: 'delayed' });
    expect(await world.queues.get('cache').getJob(victim)).toBeUndefined();
    expect(await admin.removeJob(victim)).toBeUndefined();
    const left = await acme.listJobs({ state: 'delayed' });
    expect(left.jobs.map((j) => j.id)).toEqual([acmeDelayed]);
  });

  it('`stowage jobs list|show|remove` find and remove jobs from a real process', async () => {
    const env = {
      QUEUE_PREFIX: world.config.QUEUE_PREFIX,
      DATABASE_SCHEMA: world.config.DATABASE_SCHEMA,
      CLICKHOUSE_DATABASE: world.config.CLICKHOUSE_DATABASE,
      API_KEYS,
      LOG_LEVEL: 'warn',
      DASHBOARD_PUBLIC_URL: 'https://board.example.com',
    };
    // `out` is stdout alone (the answer); the warnings of the runtime go to stderr.
    const run = async (args: string[]) => {
      const cli = runCli(args, env);
      let out = '';
      cli.child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      const code = await cli.exited;
      return { code, out, all: cli.output() };
    };
    const listed = await run(['jobs', 'list', '--tenant', 'globex', '--json']);
    expect(listed.code, listed.all).toBe(0);
    const page = JSON.parse(listed.out) as { jobs: JobStatus[] };
    expect(page.jobs.map((j) => j.id).sort()).toEqual([...globexJobs].sort());
    expect(page.jobs[0]?.dashboard_url).toMatch(
      /^https:\/\/board\.example\.com\/[^?]*\/queue\/ingest\/iocs\.insert\./,
    );

    const shown = await run(['jobs', 'show', globexJobs[0]!]);
    expect(shown.code, shown.all).toBe(0);
    expect(shown.out).toContain('globex');
    expect(shown.out).toContain('source:otx-globex');

    const removed = await run(['jobs', 'remove', globexJobs[0]!, '--json']);
    expect(removed.code, removed.all).toBe(0);
    expect(JSON.parse(removed.out)).toMatchObject({ id: globexJobs[0], state: 'prioritized' });
    await eventually(async () =>
      (await world.queues.get('ingest').getJob(globexJobs[0]!)) === undefined ? true : undefined,
    );
    const again = await run(['jobs', 'remove', globexJobs[0]!]);
    expect(again.code).toBe(1);
    const usage = await run(['jobs', 'list', '--state', 'sleeping']);
    expect(usage.code).toBe(2);
  }, 240_000);
});
