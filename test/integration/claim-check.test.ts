import { Job } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stagedBody } from '../../src/domain/staged-batch.js';
import { TransientError } from '../../src/errors/index.js';
import { Producer } from '../../queues/producer.js';
import { canonicalIocBatch } from '../../jobs/iocs-insert/definition.js';
import { iocSchema } from '../../src/domain/ioc.js';
import { StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';

const HOUR = 3_600_000;
const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();

/** n distinct domains carrying a marker no job hash, stream or set may contain. */
function batch(n: number, marker: string) {
  return Array.from({ length: n }, (_, i) => ({
    type: 'domain' as const,
    value: `${marker}-${i}.example.com`,
    threat_type: 'c2',
    confidence: i % 2 === 0 ? 0.9 : 0.5,
    source: 'otx',
    first_seen: iso(5 * HOUR),
    last_seen: iso(HOUR),
    tags: [`tag-${marker}`],
  }));
}

/** Every value Redis holds under a prefix, as text (hashes, lists, sets, zsets, streams). */
async function everythingUnder(world: StowageWorld, prefix: string): Promise<string> {
  const redis = world.deps.redis;
  const parts: string[] = [];
  for (const key of await redis.keys(`${prefix}:*`)) {
    const type = await redis.type(key);
    if (type === 'string') parts.push((await redis.get(key)) ?? '');
    else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
    else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
    else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(key)));
    else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, '0', '-1')));
    else if (type === 'stream')
      parts.push(JSON.stringify(await redis.call('XRANGE', key, '-', '+')));
  }
  return parts.join('\n');
}

describe.each(['postgres', 'clickhouse'] as const)('claim-checked ingest on %s', (hotStore) => {
  let world: StowageWorld;
  let base: string;
  const post = (path: string, body: unknown) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEYS.ingest}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const settled = (id: string) =>
    eventually(
      async () => {
        const queue = world.queues.get('ingest');
        const state = await queue.getJobState(id);
        if (state !== 'completed' && state !== 'failed') return undefined;
        // Read once settled: a job read before its move to failed has no failedReason yet.
        return { state, job: (await Job.fromId(queue, id))! };
      },
      60_000,
      `job ${id}`,
    );
  /** Adds a job straight to the queue, as something that skipped the producer would. */
  const addRaw = (id: string, data: unknown) =>
    world.queues.get('ingest').add('iocs.insert', data, { jobId: id, attempts: 3 });

  beforeEach(async () => {
    world = new StowageWorld({ HOT_STORE: hotStore, INGEST_CHUNK_SIZE: '50' });
    await world.initStores();
    base = await world.startApi();
  });
  afterEach(async () => {
    await world.close();
  });

  it('a retained ingest job holds a digest in Redis, never a record', async () => {
    await world.startWorker(['ingest']);
    const marker = `cc${Date.now().toString(36)}`;
    const res = await post('/v1/ingest/iocs', {
      source_id: 'otx',
      iocs: batch(120, marker),
      watermark: { timestamp: iso(HOUR) },
    });
    expect(res.status).toBe(202);
    const { id, children } = (await res.json()) as { id: string; children: string[] };
    expect((await settled(id)).state).toBe('completed');
    expect(await world.deps.hotStore.count()).toBe(120);

    for (const child of children) {
      const job = await Job.fromId(world.queues.get('ingest'), child);
      // The reference and who asked for it: nothing of the records.
      expect(Object.keys(job!.data as object)).toEqual(['batch', '$meta']);
      expect((job!.data as { $meta: unknown }).$meta).toEqual({
        enqueued_by: 'ingest-client',
        tenant: 'ingest-client',
        // The route tags the batch's source: the job itself carries only a reference.
        tags: ['source:otx'],
      });
      expect((job!.data as { batch: { records: number } }).batch.records).toBeGreaterThan(0);
    }
    const held = await everythingUnder(world, world.config.QUEUE_PREFIX);
    expect(held).toContain(children[0]);
    expect(held).not.toContain(marker);
    // The records are where the job's digest says, byte for byte.
    const staged = await world.deps.batches.count();
    expect(staged).toBe(children.length);
  });

  it('a worker refuses a batch no producer staged, and writes nothing', async () => {
    await world.startWorker(['ingest']);
    await addRaw('forged-1', { batch: { digest: 'a'.repeat(64), records: 3 } });
    const { state, job } = await settled('forged-1');
    expect(state).toBe('failed');
    expect(job.failedReason).toMatch(/^batch_not_staged:/);
    // Refused at once: a forged reference is not worth retrying.
    expect(job.attemptsMade).toBe(1);
    expect(await world.deps.hotStore.count()).toBe(0);
  });

  it('a worker refuses a staged batch whose bytes are not the ones its job names', async () => {
    const records = canonicalIocBatch(batch(3, 'altered').map((r) => iocSchema.parse(r)));
    const { body, digest } = stagedBody(records);
    await world.deps.batches.stage([
      { jobId: 'altered-1', queue: 'ingest', kind: 'iocs', digest, records: 3, body },
    ]);
    // Someone with database access changes a record after it was validated and staged.
    await world.deps.pg.query(
      `UPDATE "${world.config.DATABASE_SCHEMA}".job_batches SET body = replace(body, 'altered-0', 'evil') WHERE job_id = 'altered-1'`,
    );
    await world.startWorker(['ingest']);
    await addRaw('altered-1', { batch: { digest, records: 3 } });
    const { state, job } = await settled('altered-1');
    expect(state).toBe('failed');
    expect(job.failedReason).toMatch(/^batch_digest_mismatch:/);
    expect(await world.deps.hotStore.count()).toBe(0);
  });

  it('a worker validates an inline batch (an older producer) and refuses a bad record', async () => {
    await world.startWorker(['ingest']);
    await addRaw('inline-bad', {
      iocs: [{ ...batch(1, 'inline')[0], value: 'not a domain!' }],
    });
    const bad = await settled('inline-bad');
    expect(bad.state).toBe('failed');
    expect(bad.job.failedReason).toMatch(/^invalid_payload:.*payload\.iocs\.0\.value/);
    expect(await world.deps.hotStore.count()).toBe(0);

    await addRaw('inline-good', { iocs: batch(4, 'inline') });
    expect((await settled('inline-good')).state).toBe('completed');
    expect(await world.deps.hotStore.count()).toBe(4);
  });

  it('with the batch store away, records travel inline and are still stored once', async () => {
    const failing = {
      stage: () =>
        Promise.reject(new TransientError('backend_unavailable', 'batch store away (test)')),
    };
    let inlined = 0;
    const producer = new Producer(world.registry, world.queues, world.deps.redis, {
      batches: failing,
      onInline: (_err, jobs) => {
        inlined += jobs;
      },
    });
    try {
      const [job] = await producer.enqueueBulk('iocs.insert', [{ iocs: batch(5, 'away') }]);
      expect(inlined).toBe(1);
      const stored = await Job.fromId(world.queues.get('ingest'), job!.id);
      // The records themselves, and the search tags of a small batch (its IOC values).
      expect(Object.keys(stored!.data as object)).toEqual(['iocs', '$meta']);
      await world.startWorker(['ingest']);
      expect((await settled(job!.id)).state).toBe('completed');
      expect(await world.deps.hotStore.count()).toBe(5);
    } finally {
      await producer.close();
    }
  });

  it('batches.sweep removes the batches of jobs that are gone and keeps the others', async () => {
    await world.startWorker(['ingest', 'maintenance']);
    const kept = await world.producer.enqueue('iocs.insert', { iocs: batch(3, 'kept') });
    const gone = await world.producer.enqueue('iocs.insert', { iocs: batch(3, 'gone') });
    expect((await settled(kept.id)).state).toBe('completed');
    expect((await settled(gone.id)).state).toBe('completed');
    await (await Job.fromId(world.queues.get('ingest'), gone.id))!.remove();
    // Both are past the grace period.
    await world.deps.pg.query(
      `UPDATE "${world.config.DATABASE_SCHEMA}".job_batches SET created_at = now() - interval '2 hours'`,
    );
    expect(await world.deps.batches.count()).toBe(2);

    /** Enqueues a sweep and waits for the completed job. */
    const sweep = async (payload: { dry_run?: boolean }) => {
      const { id } = await world.producer.enqueue('batches.sweep', payload);
      return eventually(
        async () => {
          const job = await Job.fromId(world.queues.get('maintenance'), id);
          return (await job?.getState()) === 'completed' ? job : undefined;
        },
        30_000,
        `sweep ${JSON.stringify(payload)}`,
      );
    };

    const dryJob = await sweep({ dry_run: true });
    expect(dryJob.returnvalue).toMatchObject({ dry_run: true, examined: 2, removed: 1 });
    expect(await world.deps.batches.count()).toBe(2);

    const realJob = await sweep({});
    expect(realJob.returnvalue).toMatchObject({ dry_run: false, examined: 2, removed: 1 });
    expect(await world.deps.batches.count()).toBe(1);
    // The retained job's batch is still there: a retry from the dashboard reads it.
    await (await Job.fromId(world.queues.get('ingest'), kept.id))!.retry('completed');
    expect((await settled(kept.id)).state).toBe('completed');
  });
});
