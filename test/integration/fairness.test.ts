import { afterEach, describe, expect, it } from 'vitest';
import { Job, Queue } from 'bullmq';
import type { QueueName } from '../../src/config.js';
import {
  FairPriority,
  MAX_PRIORITY,
  RENORMALISE_AT,
  advanceVirtualTime,
  fairClockKey,
} from '../../queues/fair-priority.js';
import { WorkerHost } from '../../workers/worker-host.js';
import { testHandlers } from '../fixtures/test-jobs.js';
import { TestWorld, eventually } from '../helpers/world.js';

const tenantA = { enqueuedBy: 'collector-a', tenant: 'tenant-a' };
const tenantB = { enqueuedBy: 'collector-b', tenant: 'tenant-b' };

/** A check for `eventually`: true once `cond` holds. */
const when = (cond: () => boolean) => () => Promise.resolve(cond() ? true : undefined);

/** `n` quick test.slow payloads (one step of `ms`) keyed `<prefix><i>`. */
const slow = (prefix: string, n: number, ms = 15) =>
  Array.from({ length: n }, (_, i) => ({ key: `${prefix}${i}`, steps: 1, stepMs: ms }));

describe('fair dequeue across tenants', () => {
  const worlds: TestWorld[] = [];
  const hosts: WorkerHost[] = [];
  const world = (overrides: Record<string, string> = {}) => {
    const w = new TestWorld(overrides);
    worlds.push(w);
    return w;
  };
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map((h) => h.stop(500)));
    await Promise.all(worlds.splice(0).map((w) => w.close()));
  });

  /**
   * One worker on `queue` at concurrency 1, as a worker process builds it (with the world's
   * FAIR_QUEUES); `order` lists the keys of the completed test.slow jobs as they complete.
   */
  async function worker(w: TestWorld, queue: QueueName) {
    const order: string[] = [];
    const host = new WorkerHost({
      connect: (name) => w.deps.connectRedis(name),
      prefix: w.config.QUEUE_PREFIX,
      queues: [queue],
      concurrency: { [queue]: 1 },
      registry: w.registry,
      handlers: testHandlers(w.deps.redis, w.sink),
      log: w.deps.log,
      metrics: w.deps.metrics,
      fairQueues: w.config.fairQueues,
    });
    hosts.push(host);
    host.workers[0]!.on('completed', (job: Job) => {
      order.push(String((job.data as { key?: string; value?: string }).key ?? job.data.value));
    });
    host.start();
    await host.ready();
    return { host, order };
  }

  /** Tenant A's backlog of 60 jobs, then, once 5 ran, tenant B's one: B's place in the order. */
  async function lateTenant(w: TestWorld) {
    const { order } = await worker(w, 'artifacts');
    await w.producer.onBehalfOf(tenantA).enqueueBulk('test.slow', slow('a', 60));
    await eventually(
      when(() => order.length >= 5),
      30_000,
      '5 of A done',
    );
    const doneBefore = order.length;
    const b = await w.producer.onBehalfOf(tenantB).enqueue('test.slow', slow('b', 1)[0]!);
    await eventually(
      when(() => order.includes('b0')),
      60_000,
      'B done',
    );
    await eventually(
      when(() => order.length === 61),
      60_000,
      'everything done',
    );
    const job = (await w.queues.get('artifacts').getJob(b.id))!;
    return { place: order.indexOf('b0'), doneBefore, priority: Number(job.priority), order };
  }

  it("with fairness on, a late tenant's job runs before a 60-job backlog is half done", async () => {
    const w = world();
    expect(w.config.fairQueues).toEqual(['ingest', 'artifacts']);
    const { place, doneBefore, priority } = await lateTenant(w);
    expect(place).toBeLessThan(30);
    // The bound: after B is queued, the job running then and at most one more of A's (the
    // one holding B's tag, queued first) complete before B's; one report period of the
    // clock may let a third through.
    expect(place - doneBefore).toBeLessThanOrEqual(3);
    // B started at the queue's current virtual time, not at 1: an idle tenant earns no credit.
    expect(priority).toBeGreaterThan(1);
  });

  it('with fairness off (FAIR_QUEUES=none), the same late job waits for the whole backlog', async () => {
    const w = world({ FAIR_QUEUES: 'none' });
    expect(w.config.fairQueues).toEqual([]);
    const { place, priority } = await lateTenant(w);
    expect(place).toBe(60);
    expect(priority).toBe(0);
  });

  it('two backlogs queued together are served in turn, one job of each', async () => {
    const w = world();
    await w.producer.onBehalfOf(tenantA).enqueueBulk('test.slow', slow('a', 10, 1));
    await w.producer.onBehalfOf(tenantB).enqueueBulk('test.slow', slow('b', 10, 1));
    const { order } = await worker(w, 'artifacts');
    await eventually(
      when(() => order.length === 20),
      30_000,
      'all done',
    );
    expect(order.slice(0, 6)).toEqual(['a0', 'b0', 'a1', 'b1', 'a2', 'b2']);
    expect(order.map((k) => k[0]).join('')).toBe('ab'.repeat(10));
  });

  it('the same backlogs without fairness run first come, first served', async () => {
    const w = world({ FAIR_QUEUES: 'none' });
    await w.producer.onBehalfOf(tenantA).enqueueBulk('test.slow', slow('a', 10, 1));
    await w.producer.onBehalfOf(tenantB).enqueueBulk('test.slow', slow('b', 10, 1));
    const { order } = await worker(w, 'artifacts');
    await eventually(
      when(() => order.length === 20),
      30_000,
      'all done',
    );
    expect(order.map((k) => k[0]).join('')).toBe('a'.repeat(10) + 'b'.repeat(10));
  });

  it('workers move the virtual time, so a tenant that was idle starts at it', async () => {
    const w = world();
    const { order } = await worker(w, 'artifacts');
    await w.producer.onBehalfOf(tenantA).enqueueBulk('test.slow', slow('a', 10, 1));
    await eventually(
      when(() => order.length === 10),
      30_000,
      'A done',
    );
    const key = fairClockKey(w.config.QUEUE_PREFIX, 'artifacts');
    await eventually(
      async () => ((await w.deps.redis.hget(key, 'vt')) === '10' ? true : undefined),
      10_000,
      'virtual time 10',
    );
    const b = await w.producer.onBehalfOf(tenantB).enqueue('test.slow', slow('b', 1)[0]!);
    const lone = await w.producer.enqueue('test.slow', slow('none', 1)[0]!);
    expect((await w.queues.get('artifacts').getJob(b.id))!.priority).toBe(11);
    // Work of no tenant (the scheduler, the CLI) has a lane of its own, at the same time.
    expect((await w.queues.get('artifacts').getJob(lone.id))!.priority).toBe(11);
  });

  it('an explicit priority defers a job by priority − 1 turns of its tenant', async () => {
    const w = world();
    const producer = w.producer.onBehalfOf(tenantA);
    const first = await producer.enqueue('test.slow', slow('p', 1)[0]!);
    const deferred = await producer.enqueue('test.slow', slow('q', 1)[0]!, { priority: 5 });
    const queue = w.queues.get('artifacts');
    expect((await queue.getJob(first.id))!.priority).toBe(1);
    expect((await queue.getJob(deferred.id))!.priority).toBe(2 + 4);
  });

  it('a flow on fair queues completes: children and parent carry priorities', async () => {
    const w = world({ FAIR_QUEUES: 'ingest,maintenance' });
    await Promise.all([worker(w, 'ingest'), worker(w, 'maintenance')]);
    const flow = await w.producer.onBehalfOf(tenantA).enqueueFlow({
      parent: { name: 'test.sum', payload: { label: 'fair' } },
      children: ['x', 'yy', 'zzz'].map((value) => ({ name: 'test.echo', payload: { value } })),
    });
    await eventually(
      async () => ((await w.sinkValues())['sum:fair'] === 6 ? true : undefined),
      30_000,
      'parent summed its children',
    );
    const parent = (await w.queues.get('maintenance').getJob(flow.id))!;
    expect(parent.priority).toBeGreaterThan(0);
    const children = await Promise.all(
      flow.children.map(async (c) => (await w.queues.get('ingest').getJob(c.id))!.priority),
    );
    expect(children).toEqual([1, 2, 3]);
  });

  it('a retried job keeps its priority and completes', async () => {
    const w = world();
    await worker(w, 'ingest');
    const producer = w.producer.onBehalfOf(tenantB);
    await producer.enqueue('test.echo', { value: 'before' });
    const job = await producer.enqueue('test.fail', { mode: 'transient', succeedOnAttempt: 2 });
    const done = await eventually(
      async () => {
        const j = await w.queues.get('ingest').getJob(job.id);
        return j?.finishedOn ? j : undefined;
      },
      30_000,
      'retried job done',
    );
    expect(await done.getState()).toBe('completed');
    expect(done.attemptsMade).toBe(2);
    expect(done.priority).toBe(2);
  });
});

describe('the fair clock in Redis', () => {
  let world: TestWorld | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  it('starts again at 1 past half the range once the queue is empty, not before', async () => {
    world = new TestWorld();
    const { redis } = world.deps;
    const prefix = world.config.QUEUE_PREFIX;
    const key = fairClockKey(prefix, 'ingest');
    const fair = new FairPriority(redis, prefix, ['ingest']);
    const high = RENORMALISE_AT + 10;
    await redis.hset(key, 'vt', high, 'top', high, 't:tenant-a', high);

    // A job still queued holds a tag of the old count: no reset.
    const queue = new Queue('ingest', { connection: redis, prefix });
    try {
      await queue.add('test.echo', { value: 'held' }, { priority: 5 });
      expect(await fair.reserve('ingest', 'tenant-b', 1)).toBe(high + 1);
      await queue.obliterate({ force: true });
      // Empty now: the next reservation renormalises.
      expect(await fair.reserve('ingest', 'tenant-b', 3)).toBe(1);
      expect(await redis.hgetall(key)).toEqual({ 't:tenant-b': '3', top: '3' });
      // A worker's late report of a pre-reset priority does not move the new clock…
      expect(await advanceVirtualTime(redis, prefix, 'ingest', high)).toBe(false);
      // …one of the new count does.
      expect(await advanceVirtualTime(redis, prefix, 'ingest', 2)).toBe(true);
      expect(await redis.hget(key, 'vt')).toBe('2');
    } finally {
      await queue.close();
    }
  });

  it('clamps tags past the range to the largest priority (the tail is FIFO)', async () => {
    world = new TestWorld();
    const { redis } = world.deps;
    const prefix = world.config.QUEUE_PREFIX;
    const key = fairClockKey(prefix, 'artifacts');
    // A queue that never emptied while its tags passed the range (a job of the old count is
    // still queued, so no reset): new jobs still queue, at the largest priority, FIFO.
    await redis.hset(key, 'vt', MAX_PRIORITY + 5, 'top', MAX_PRIORITY + 5);
    const queue = world.queues.get('artifacts');
    await queue.add('test.slow', slow('held', 1)[0]!, { priority: MAX_PRIORITY - 1 });
    const none = await world.producer.enqueue('test.slow', slow('none', 1)[0]!);
    const a = await world.producer.onBehalfOf(tenantA).enqueue('test.slow', slow('a', 1)[0]!);
    expect((await queue.getJob(none.id))!.priority).toBe(MAX_PRIORITY);
    expect((await queue.getJob(a.id))!.priority).toBe(MAX_PRIORITY);
    expect(Number(await redis.hget(key, 't:tenant-a'))).toBe(MAX_PRIORITY + 6);
  });
});
