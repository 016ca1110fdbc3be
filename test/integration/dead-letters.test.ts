import { Job } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PermanentError, TransientError } from '../../src/errors/index.js';
import { workerResourcesOf } from '../../src/composition/root.js';
import { createHandlers } from '../../jobs/job-type.js';
import { JOB_TYPES } from '../../jobs/registry.js';
import type { Handler } from '../../jobs/job-definition.js';
import type { iocsInsertJob } from '../../jobs/iocs-insert/definition.js';
import { deadLetterOf } from '../../queues/dead-letter-of-job.js';
import { WorkerHost } from '../../workers/worker-host.js';
import { StowageClient } from '../../src/sdk/index.js';
import type { HandlerTable } from '../../workers/job-runner.js';
import { StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';

const HOUR = 3_600_000;
const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();

/** n distinct domains carrying a marker. */
function batch(n: number, marker: string) {
  return Array.from({ length: n }, (_, i) => ({
    type: 'domain' as const,
    value: `${marker}-${i}.example.com`,
    threat_type: 'c2',
    confidence: 0.5,
    source: 'otx',
    first_seen: iso(5 * HOUR),
    last_seen: iso(HOUR),
    tags: [`tag-${marker}`],
  }));
}

describe.each(['postgres', 'clickhouse'] as const)('dead letters on %s', (hotStore) => {
  let world: StowageWorld;
  let base: string;
  const hosts: WorkerHost[] = [];
  /** The sink field that, while set, makes iocs.insert fail ("permanent" or "transient"). */
  const failMode = () => `${world.config.QUEUE_PREFIX}:test-fail-mode`;

  /**
   * The real iocs.insert handler behind a switch in Redis: while the switch says so it fails
   * permanently or transiently, else it does the real work (the batch store, the hot store).
   */
  async function handlers(): Promise<HandlerTable> {
    const real = await createHandlers(JOB_TYPES, workerResourcesOf(world.deps));
    const insert = real['iocs.insert'] as unknown as Handler<typeof iocsInsertJob>;
    const gated: Handler<typeof iocsInsertJob> = async (payload, ctx) => {
      const mode = await world.deps.redis.get(failMode());
      if (mode === 'permanent') {
        throw new PermanentError(
          'invalid_payload',
          'refused by the test (https://x.test/?token=s3cret)',
        );
      }
      if (mode === 'transient')
        throw new TransientError('backend_unavailable', 'away for the test');
      return insert(payload, ctx);
    };
    return { ...real, 'iocs.insert': gated };
  }

  /** A worker as `stowage worker` builds it: its failed hook writes dead letters. */
  async function startWorker(options: { hook: boolean }) {
    const host = new WorkerHost({
      connect: (name) => world.deps.connectRedis(name),
      prefix: world.config.QUEUE_PREFIX,
      queues: ['ingest', 'maintenance'],
      registry: world.registry,
      handlers: await handlers(),
      log: world.deps.log,
      metrics: world.deps.metrics,
      ...(options.hook ? { deadLetters: world.deps.deadLetters } : {}),
    });
    host.start();
    await host.ready();
    hosts.push(host);
    return host;
  }

  const settled = (queue: 'ingest' | 'maintenance', id: string) =>
    eventually(
      async () => {
        const q = world.queues.get(queue);
        const state = await q.getJobState(id);
        if (state !== 'completed' && state !== 'failed') return undefined;
        return { state, job: (await Job.fromId(q, id))! };
      },
      60_000,
      `job ${id}`,
    );
  const call = async (method: string, path: string, key: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers of several shapes
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const rows = async () =>
    (
      await world.deps.pg.query<{ n: string }>(
        `SELECT count(*) AS n FROM "${world.config.DATABASE_SCHEMA}".dead_letters`,
      )
    ).rows[0]!.n;
  /** Enqueues a maintenance job and waits for it to complete. */
  const runMaintenance = async (name: 'deadletters.sweep' | 'batches.sweep', payload: object) => {
    const { id } = await world.producer.enqueueByName(name, payload);
    const { state, job } = await settled('maintenance', id);
    expect(state).toBe('completed');
    return job.returnvalue as Record<string, unknown>;
  };

  beforeEach(async () => {
    world = new StowageWorld({ HOT_STORE: hotStore, INGEST_CHUNK_SIZE: '50' });
    await world.initStores();
    base = await world.startApi();
  });
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map((h) => h.stop(500)));
    await world.close();
  });

  it('a permanently failed claim-checked job outlives its queue, keeps its batch, and retries once', async () => {
    await world.deps.redis.set(failMode(), 'permanent');
    await startWorker({ hook: true });
    const { id } = await world.producer.enqueue('iocs.insert', { iocs: batch(4, 'dead') });
    expect((await settled('ingest', id)).state).toBe('failed');

    const letter = await eventually(
      async () => {
        const page = await world.deps.deadLetters.list({ queue: 'ingest' }, { limit: 10 });
        return page.items[0];
      },
      30_000,
      'the dead letter',
    );
    expect(letter).toMatchObject({
      queue: 'ingest',
      jobId: id,
      type: 'iocs.insert',
      failureCode: 'invalid_payload',
      attemptsMade: 1,
      maxAttempts: 10,
      // In-process work: no key, no tenant; the small batch's IOCs are its search tags.
      meta: { tags: [0, 1, 2, 3].map((i) => `ioc:dead-${i}.example.com`) },
      retriedAt: null,
    });
    // The stored data is the batch reference (and its $meta), not the records.
    expect(Object.keys(letter.data as object).sort()).toEqual(['$meta', 'batch']);
    expect((letter.data as { batch: { records: number } }).batch.records).toBe(4);
    // The reason is redacted (no URL query) and keeps the code the runner leads it with.
    expect(letter.reason).toContain('invalid_payload');
    expect(letter.reason).not.toContain('s3cret');
    expect(letter.stack ?? '').not.toContain('s3cret');

    // Queue retention removes the job; the batch sweep keeps the batch the dead letter names.
    await (await Job.fromId(world.queues.get('ingest'), id))!.remove();
    await world.deps.pg.query(
      `UPDATE "${world.config.DATABASE_SCHEMA}".job_batches SET created_at = now() - interval '2 hours'`,
    );
    const kept = await runMaintenance('batches.sweep', { older_than_minutes: 60 });
    expect(kept).toMatchObject({ examined: 1, removed: 0 });
    expect(await world.deps.batches.count()).toBe(1);

    // The retry enqueues the same stored data as a new job, which reads the same records.
    await world.deps.redis.del(failMode());
    const first = await call('POST', `/v1/dead-letters/${letter.id}/retry`, TEST_KEYS.admin);
    expect(first.status).toBe(200);
    expect(first.body.retried).toBe(true);
    const retryId = first.body.job_id as string;
    expect(retryId).not.toBe(id);
    expect((await settled('ingest', retryId)).state).toBe('completed');
    expect(await world.deps.hotStore.count()).toBe(4);

    // A second retry enqueues nothing and names the same job.
    const second = await call('POST', `/v1/dead-letters/${letter.id}/retry`, TEST_KEYS.admin);
    expect(second.body).toMatchObject({ retried: false, job_id: retryId });
    expect(await world.queues.get('ingest').getJobCountByTypes('completed', 'waiting')).toBe(1);
    const shown = await call('GET', `/v1/dead-letters/${letter.id}`, TEST_KEYS.read);
    expect(shown.body.retry_job_id).toBe(retryId);
    expect(shown.body.retried_at).not.toBeNull();

    // Retried, the dead letter no longer holds the original batch: the sweep removes it.
    const swept = await runMaintenance('batches.sweep', { older_than_minutes: 60 });
    expect(swept).toMatchObject({ removed: 1 });
    // The dead letter itself stays until purged.
    expect(await rows()).toBe('1');
  });

  it('a transient failure is a dead letter only when its last attempt fails', async () => {
    await world.deps.redis.set(failMode(), 'transient');
    await startWorker({ hook: true });
    const id = 'iocs.insert.transient-1';
    await world.queues.get('ingest').add(
      'iocs.insert',
      { iocs: batch(2, 'tr') },
      {
        jobId: id,
        attempts: 3,
        backoff: { type: 'fixed', delay: 200 },
      },
    );
    const { state } = await settled('ingest', id);
    expect(state).toBe('failed');
    const letter = await eventually(
      async () => {
        const page = await world.deps.deadLetters.list({}, { limit: 10 });
        return page.items[0];
      },
      30_000,
      'the dead letter',
    );
    expect(letter).toMatchObject({
      jobId: id,
      failureCode: 'backend_unavailable',
      attemptsMade: 3,
      maxAttempts: 3,
    });
    // Two failed attempts that were retried left no row.
    expect(await rows()).toBe('1');

    // The original job is still in its queue: the retry runs it again, under its own id.
    await world.deps.redis.del(failMode());
    const retried = await call('POST', `/v1/dead-letters/${letter.id}/retry`, TEST_KEYS.admin);
    expect(retried.body).toMatchObject({ retried: true, job_id: id });
    expect((await settled('ingest', id)).state).toBe('completed');
    expect(await world.deps.hotStore.count()).toBe(2);
  });

  it('deadletters.sweep copies failures the worker could not record, once however often it runs', async () => {
    await world.deps.redis.set(failMode(), 'permanent');
    // No hook: as when PostgreSQL was away at the moment of the failure.
    await startWorker({ hook: false });
    const a = await world.producer.enqueue('iocs.insert', { iocs: batch(1, 'a') });
    const b = await world.producer.enqueue('iocs.insert', { iocs: batch(1, 'b') });
    expect((await settled('ingest', a.id)).state).toBe('failed');
    expect((await settled('ingest', b.id)).state).toBe('failed');
    expect(await rows()).toBe('0');

    const dry = await runMaintenance('deadletters.sweep', { dry_run: true });
    expect(dry).toMatchObject({ examined: 2, recorded: 0 });
    expect(await rows()).toBe('0');
    expect(await runMaintenance('deadletters.sweep', {})).toMatchObject({ recorded: 2 });
    expect(await rows()).toBe('2');
    // A rerun, and the worker's hook writing the same failure (a worker killed after
    // writing, run again), add nothing.
    expect(await runMaintenance('deadletters.sweep', {})).toMatchObject({ recorded: 0 });
    const job = (await Job.fromId(world.queues.get('ingest'), a.id))!;
    expect(await world.deps.deadLetters.record([deadLetterOf('ingest', job)])).toBe(0);
    expect(await rows()).toBe('2');
  });

  it('lists by filter a page at a time, removes, purges, and counts them as a metric', async () => {
    const now = new Date();
    const entry = (i: number, type: string, tenant: string | null) => ({
      queue: 'ingest',
      jobId: `${type}.job-${i}`,
      type,
      data: { n: i, source: { url: 'https://feed.test/x?token=s3cret' } },
      meta: tenant === null ? null : { enqueued_by: 'k', tenant, tags: {} },
      failureCode: 'invalid_payload',
      reason: 'bad',
      stack: null,
      attemptsMade: 1,
      maxAttempts: 10,
      enqueuedAt: now,
      failedAt: now,
    });
    await world.deps.deadLetters.record([
      ...Array.from({ length: 5 }, (_, i) => entry(i, 'iocs.insert', 'acme')),
      ...Array.from({ length: 2 }, (_, i) => entry(i, 'detections.insert', 'globex')),
      entry(9, 'iocs.insert', null),
    ]);

    // Cursor pagination: every acme dead letter once, newest first.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `tenant=acme&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await call('GET', `/v1/dead-letters?${query}`, TEST_KEYS.read);
      expect(page.status).toBe(200);
      expect(page.body.dead_letters.length).toBeLessThanOrEqual(2);
      for (const d of page.body.dead_letters) {
        expect(d.tenant).toBe('acme');
        // Readers see the data redacted.
        expect(JSON.stringify(d.data)).not.toContain('s3cret');
        seen.push(d.id as string);
      }
      cursor = page.body.next_cursor as string | null;
    } while (cursor !== null);
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
    expect([...seen].sort((x, y) => Number(y) - Number(x))).toEqual(seen);
    const byType = await call('GET', '/v1/dead-letters?type=detections.insert', TEST_KEYS.read);
    expect(byType.body.dead_letters).toHaveLength(2);
    const later = await call('GET', `/v1/dead-letters?since=${iso(-HOUR)}`, TEST_KEYS.read);
    expect(later.body.dead_letters).toHaveLength(0);

    const metrics = await world.deps.metrics.render();
    expect(metrics).toMatch(
      /stowage_dead_letters\{[^}]*queue="ingest"[^}]*type="iocs.insert"[^}]*\} 6/,
    );

    // Changes need the admin scope.
    expect((await call('DELETE', `/v1/dead-letters/${seen[0]}`, TEST_KEYS.read)).status).toBe(403);
    expect((await call('DELETE', `/v1/dead-letters/${seen[0]}`, TEST_KEYS.admin)).body).toEqual({
      purged: 1,
    });
    expect((await call('GET', `/v1/dead-letters/${seen[0]}`, TEST_KEYS.read)).status).toBe(404);
    // A purge names a filter, or says all.
    expect((await call('POST', '/v1/dead-letters/purge', TEST_KEYS.admin, {})).status).toBe(400);
    const purged = await call('POST', '/v1/dead-letters/purge', TEST_KEYS.admin, {
      type: 'iocs.insert',
      tenant: 'acme',
    });
    expect(purged.body).toEqual({ purged: 4 });
    expect(await rows()).toBe('3');
    const all = await call('POST', '/v1/dead-letters/purge', TEST_KEYS.admin, { all: true });
    expect(all.body).toEqual({ purged: 3 });
    expect(await rows()).toBe('0');
  });

  it('the SDK and the dashboard page list, retry and purge them', async () => {
    const now = new Date();
    await world.deps.deadLetters.record([
      {
        queue: 'ingest',
        jobId: 'iocs.insert.gone-1',
        type: 'iocs.insert',
        data: { iocs: batch(1, 'sdk') },
        meta: { enqueued_by: 'ingest-client', tenant: 'acme', tags: {} },
        failureCode: 'invalid_payload',
        reason: 'bad <script>',
        stack: null,
        attemptsMade: 1,
        maxAttempts: 10,
        enqueuedAt: now,
        failedAt: now,
      },
    ]);
    const client = new StowageClient({ baseUrl: base, apiKey: TEST_KEYS.admin });
    const page = await client.listDeadLetters({ tenant: 'acme' });
    expect(page.dead_letters).toHaveLength(1);
    const id = page.dead_letters[0]!.id;
    expect((await client.getDeadLetter(id)).meta).toMatchObject({ tenant: 'acme' });

    // The page, as a read key sees it: the row, escaped, and no buttons.
    const board = `${base}${world.config.DASHBOARD_PATH}/dead-letters`;
    const basic = (secret: string) => `Basic ${Buffer.from(`x:${secret}`).toString('base64')}`;
    const asReader = await fetch(`${board}?tenant=acme`, {
      headers: { authorization: basic(TEST_KEYS.read) },
    });
    expect(asReader.status).toBe(200);
    const html = await asReader.text();
    expect(html).toContain('iocs.insert.gone-1');
    expect(html).toContain('bad &lt;script&gt;');
    expect(html).not.toContain('<button>Retry</button>');
    expect((await fetch(board)).status).toBe(401);
    const asAdmin = await (
      await fetch(board, { headers: { authorization: basic(TEST_KEYS.admin) } })
    ).text();
    expect(asAdmin).toContain('<button>Retry</button>');

    // A read key cannot retry, nor can a form from another site; an admin's form can.
    const retryForm = (secret: string, origin?: string) =>
      fetch(`${board}/${id}/retry`, {
        method: 'POST',
        redirect: 'manual',
        headers: { authorization: basic(secret), ...(origin ? { origin } : {}) },
      });
    expect((await retryForm(TEST_KEYS.read)).status).toBe(403);
    expect((await retryForm(TEST_KEYS.admin, 'https://evil.example')).status).toBe(403);
    expect((await client.getDeadLetter(id)).retry_job_id).toBeNull();
    expect((await retryForm(TEST_KEYS.admin)).status).toBe(303);
    const retried = await client.getDeadLetter(id);
    expect(retried.retry_job_id).not.toBeNull();
    expect(await world.queues.get('ingest').getJob(retried.retry_job_id!)).toBeDefined();
    // The SDK's retry answers the first one.
    expect(await client.retryDeadLetter(id)).toMatchObject({
      retried: false,
      job_id: retried.retry_job_id,
    });
    expect(await client.purgeDeadLetters({ tenant: 'acme' })).toEqual({ purged: 1 });
    expect((await client.listDeadLetters()).dead_letters).toHaveLength(0);
  });
});
