import { Job } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectProducer, type ProducerConnection } from '../../queues/index.js';
import { ValidationError } from '../../src/errors/index.js';
import { StowageWorld, eventually } from '../helpers/world.js';

const HOUR = 3_600_000;
const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();

/** n distinct domains; `source` left out when null (the batch's source_id fills it). */
function batch(n: number, source: string | null = 'otx', offset = 0) {
  return Array.from({ length: n }, (_, i) => ({
    type: 'domain' as const,
    value: `prod-${offset + i}.example.com`,
    threat_type: 'c2',
    confidence: 0.9,
    ...(source === null ? {} : { source }),
    first_seen: iso(5 * HOUR),
    last_seen: iso(HOUR),
  }));
}

describe('the in-process producer ingests like POST /v1/ingest/iocs', () => {
  let world: StowageWorld;
  let connection: ProducerConnection;
  const stateOf = async (id: string) =>
    (await Job.fromId(world.queues.get('ingest'), id))?.getState();
  const finished = (id: string) =>
    eventually(
      async () => {
        const state = await stateOf(id);
        return state === 'completed' || state === 'failed' ? state : undefined;
      },
      60_000,
      `job ${id}`,
    );

  beforeEach(async () => {
    world = new StowageWorld({ HOT_STORE: 'postgres' });
    await world.initStores();
    connection = await connectProducer({
      redisUrl: world.config.REDIS_URL,
      queuePrefix: world.config.QUEUE_PREFIX,
      databaseUrl: world.config.DATABASE_URL,
      databaseSchema: world.config.DATABASE_SCHEMA,
      ingest: { maxIocs: 500, chunkSize: 50 },
    });
  });
  afterEach(async () => {
    await connection.close();
    await world.close();
  });

  it('splits a batch into chunks of INGEST_CHUNK_SIZE iocs.insert jobs', async () => {
    await world.startWorker(['ingest']);
    const result = await connection.ingestIocs({ source_id: 'otx', iocs: batch(120, null) });
    expect(result).toMatchObject({ source_id: 'otx', iocs: 120 });
    if (!('jobs' in result)) throw new Error('expected plain jobs');
    expect(result.jobs).toHaveLength(3);
    expect(result.jobs.every((j) => j.type === 'iocs.insert')).toBe(true);
    for (const job of result.jobs) expect(await finished(job.id)).toBe('completed');
    expect(await world.deps.hotStore.count()).toBe(120);
  });

  it('with a watermark, the flow commits it only after every chunk was inserted', async () => {
    // No worker yet: the watermark must wait for its children.
    const result = await connection.ingestIocs({
      source_id: 'otx',
      iocs: batch(120),
      watermark: { timestamp: '2026-01-01T12:30:00Z' },
    });
    expect(result).toMatchObject({ type: 'watermark.commit', chunks: 3, iocs: 120 });
    if (!('children' in result)) throw new Error('expected a flow');
    expect(result.replayed).toBe(false);
    expect(await stateOf(result.id)).toBe('waiting-children');
    expect(await world.deps.watermarks.get('otx')).toBeUndefined();

    await world.startWorker(['ingest']);
    expect(await finished(result.id)).toBe('completed');
    for (const child of result.children) expect(await stateOf(child)).toBe('completed');
    expect(await world.deps.hotStore.count()).toBe(120);
    expect(await world.deps.watermarks.get('otx')).toMatchObject({
      source_id: 'otx',
      last_successful_timestamp: new Date('2026-01-01T12:30:00Z'),
      records_collected: 120,
    });
  });

  it('a replayed batch (same key, or same batch without one) enqueues nothing new', async () => {
    const request = {
      source_id: 'otx',
      iocs: batch(80),
      watermark: { timestamp: '2026-01-01T00:00:00Z' },
    };
    const first = await connection.ingestIocs(request);
    const again = await connection.ingestIocs(request);
    expect(again).toMatchObject({ id: (first as { id: string }).id, replayed: true });

    const keyed = await connection.ingestIocs({ ...request, idempotencyKey: 'batch-7' });
    expect(keyed).toMatchObject({ replayed: false });
    const keyedAgain = await connection.ingestIocs({ ...request, idempotencyKey: 'batch-7' });
    expect(keyedAgain).toMatchObject({ id: (keyed as { id: string }).id, replayed: true });

    const plain = { source_id: 'otx', iocs: batch(60), idempotencyKey: 'plain-1' };
    const a = await connection.ingestIocs(plain);
    const b = await connection.ingestIocs(plain);
    expect(b).toEqual(a);
    expect(
      await world.queues
        .get('ingest')
        .getJobCountByTypes('waiting', 'prioritized', 'waiting-children'),
    ).toBe(
      // 2 flows × (1 parent + 2 children) + 2 plain chunks
      8,
    );
  });

  it('refuses bad input naming the field, and enqueues nothing', async () => {
    const bad = [
      {
        input: { source_id: 'otx', iocs: [...batch(2), { ...batch(1)[0]!, confidence: 2 }] },
        path: 'iocs.2.confidence',
      },
      { input: { iocs: batch(1, null) }, path: 'iocs.0.source' },
      { input: { iocs: batch(1), watermark: { timestamp: iso(0) } }, path: 'source_id' },
      { input: { source_id: 'otx', iocs: batch(501) }, path: 'iocs' },
      {
        input: { source_id: 'otx', iocs: batch(1), idempotencyKey: 'has space' },
        path: 'idempotencyKey',
      },
    ];
    for (const { input, path } of bad) {
      const err = await connection.ingestIocs(input).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).issues.map((i) => i.path)).toContain(path);
    }
    expect(await world.queues.get('ingest').count()).toBe(0);
  });
});
