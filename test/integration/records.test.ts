// Seed 002's records against the real services: POST /v1/records → records.insert (a locked
// gzip NDJSON object in a real Object Lock bucket, GOVERNANCE so the test can clean up, the
// record index in PostgreSQL, the hot row) → GET /v1/records/{id}, hot then archive after
// retention.cleanup. Both hot stores; each test has its own queues, schema and bucket.
import { ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobContext } from '../../jobs/job-definition.js';
import {
  createRecordsInsertHandler,
  type RecordsInsertDeps,
  type RecordsInsertResult,
} from '../../jobs/records-insert/handler.js';
import { cleanRecords } from '../../jobs/retention-cleanup/records.js';
import type { RetentionReport } from '../../jobs/retention-cleanup/report.js';
import { storageRecordSchema } from '../../src/domain/storage-record.js';
import { NO_JOB_METRICS } from '../../src/metrics.js';
import { StowageClient } from '../../src/sdk/client.js';
import type { StorageRecordInput } from '../../src/sdk/record-types.js';
import { randomBucketName, removeBucket } from '../helpers/buckets.js';
import { StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';

const DAY = 86_400_000;

/** A record whose timestamp is `daysAgo` days before now. */
function record(id: string, daysAgo = 0, extra: Partial<StorageRecordInput> = {}) {
  return {
    id,
    source_data: `detector output of ${id}\nsecond line`,
    mapped_data: `canonical taxonomy mapping of ${id}`,
    model_version: 'llama-2-7b-v1.0',
    timestamp: new Date(Date.now() - daysAgo * DAY - 60_000).toISOString(),
    metadata: { detector: 'example', nested: { b: 2, a: [1, 'x'] } },
    ...extra,
  } satisfies StorageRecordInput;
}

describe.each(['postgres', 'clickhouse'] as const)('records on %s', (hotStore) => {
  let world: StowageWorld;
  let bucket: string;
  let writer: StowageClient;
  let reader: StowageClient;
  let base: string;

  beforeEach(async () => {
    bucket = randomBucketName('records');
    world = new StowageWorld({
      HOT_STORE: hotStore,
      ARCHIVE_BUCKET: bucket,
      ARCHIVE_LOCK_MODE: 'GOVERNANCE',
      ARCHIVE_RETENTION_YEARS: '1',
      RETENTION_BATCH_SIZE: '100',
    });
    await world.initStores();
    await world.deps.wormArchive.ensureBucket();
    await world.startWorker(['archive', 'maintenance']);
    base = await world.startApi();
    writer = new StowageClient({ baseUrl: base, apiKey: TEST_KEYS.ingest, retry: false });
    reader = new StowageClient({ baseUrl: base, apiKey: TEST_KEYS.read, retry: false });
  });
  afterEach(async () => {
    try {
      await removeBucket(world.deps.s3, bucket);
    } finally {
      await world?.close();
    }
  });

  /** Waits for a job of a queue to finish and returns its result (throws if it failed). */
  async function finish(id: string, queue: 'archive' | 'maintenance'): Promise<unknown> {
    const q = world.queues.get(queue);
    const state = await eventually(
      async () => {
        const st = await q.getJobState(id);
        return st === 'completed' || st === 'failed' ? st : undefined;
      },
      120_000,
      `job ${id}`,
    );
    const job = await q.getJob(id);
    if (state === 'failed') throw new Error(`job failed: ${job?.failedReason}`);
    return job?.returnvalue as unknown;
  }

  async function store(records: StorageRecordInput[]): Promise<RecordsInsertResult> {
    const accepted = await writer.storeRecords({ records });
    expect(accepted.jobs).toHaveLength(1);
    return (await finish(accepted.jobs[0]!.id, 'archive')) as RecordsInsertResult;
  }

  async function indexRows(id: string): Promise<number> {
    const { rows } = await world.deps.pg.query<{ n: string }>(
      `SELECT count(*) AS n FROM "${world.config.DATABASE_SCHEMA}".record_index WHERE id = $1`,
      [id],
    );
    return Number(rows[0]?.n);
  }

  it('a stored record is read back from the hot store, archived under Object Lock and indexed', async () => {
    const input = record('unique-id');
    const { id, jobs } = await writer.storeRecord(input);
    expect(id).toBe('unique-id');
    const result = (await finish(jobs[0]!.id, 'archive')) as RecordsInsertResult;
    expect(result).toMatchObject({ received: 1, stored: 1, unchanged: 0, conflicts: 0 });
    expect(result.object_key).toMatch(/^records\/\d{4}\/\d{2}\/\d{2}\/[0-9a-f]{64}\.ndjson\.gz$/);

    const read = await reader.getRecord('unique-id');
    expect(read?.tier).toBe('hot');
    expect(read?.record).toEqual({ ...input, metadata: input.metadata });
    expect(await reader.getRecord('never-stored')).toBeUndefined();

    const versions = await world.deps.s3.send(
      new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'records/' }),
    );
    expect(versions.Versions?.map((v) => v.Key)).toEqual([result.object_key]);
    expect(await indexRows('unique-id')).toBe(1);
    expect(await world.deps.records.rowsOf('unique-id')).toBe(1);
  });

  it('the same id with the same content is a no-op; with other content it is refused and the first kept', async () => {
    const first = record('rec-1');
    await store([first]);
    // Metadata keys in another order are the same content.
    const reordered = {
      ...first,
      metadata: { nested: { a: [1, 'x'], b: 2 }, detector: 'example' },
    };
    const again = await store([reordered, record('rec-2')]);
    expect(again).toMatchObject({ received: 2, stored: 1, unchanged: 1, conflicts: 0 });

    const other = await store([{ ...first, mapped_data: 'another mapping' }]);
    expect(other).toMatchObject({
      received: 1,
      stored: 0,
      unchanged: 0,
      conflicts: 1,
      conflict_ids: ['rec-1'],
      hot_written: 0,
      object_key: null,
    });
    const read = await reader.getRecord('rec-1');
    expect(read?.record.mapped_data).toBe(first.mapped_data);
    expect(await world.deps.records.rowsOf('rec-1')).toBe(1);
    expect(await indexRows('rec-1')).toBe(1);
    expect(await world.deps.records.count()).toBe(2);
  });

  it('retention removes hot records past the window; GET then reads them from the archive', async () => {
    const old = [record('old-1', 3), record('old-2', 3), record('old-3', 4)];
    const fresh = record('fresh-1', 0);
    await store([...old, fresh]);
    expect(await world.deps.records.count()).toBe(4);

    // A dry run pages through them two at a time (the cursor skips nothing), deleting nothing.
    const dryReport = await cleanRecords(
      { records: world.deps.records, index: world.deps.recordIndex },
      { cutoff: new Date(Date.now() - DAY), batchSize: 2, dryRun: true },
      { log: world.deps.log, signal: new AbortController().signal, metrics: NO_JOB_METRICS },
      () => Promise.resolve(),
    );
    expect(dryReport).toMatchObject({ rows: 3, batches: 2, oldest: old[2]!.timestamp });
    expect(await world.deps.records.count()).toBe(4);

    const real = await world.producer.enqueue('retention.cleanup', {
      dry_run: false,
      hot_days: 1,
      targets: ['records'],
    });
    const report = ((await finish(real.id, 'maintenance')) as RetentionReport).targets.records!;
    expect(report).toMatchObject({ rows: 3, batches: 1, kept_unindexed: 0 });
    expect(report.oldest).toBe(old[2]!.timestamp);
    expect(await world.deps.records.count()).toBe(1);

    for (const r of old) {
      const read = await reader.getRecord(r.id);
      expect(read).toEqual({ tier: 'archive', record: r });
    }
    expect((await reader.getRecord('fresh-1'))?.tier).toBe('hot');
  });

  it('a bad record is a 400 naming its index and field, and nothing is enqueued', async () => {
    const res = await fetch(`${base}/v1/records`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TEST_KEYS.ingest}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        records: [
          record('ok-1'),
          record('bad id/with slash'),
          { ...record('ok-2'), timestamp: '9999-01-01T00:00:00Z' },
          { ...record('ok-3'), colour: 'red' },
          { ...record('ok-4'), source_data: 'x'.repeat(40_000) },
          { ...record('ok-5'), metadata: 'not an object' },
        ],
      }),
    });
    expect(res.status).toBe(400);
    const paths = ((await res.json()) as { errors: { path: string }[] }).errors.map((e) => e.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'records.1.id',
        'records.2.timestamp',
        'records.3.colour',
        'records.4.source_data',
        'records.5.metadata',
      ]),
    );
    expect(paths.some((p) => p.startsWith('records.0.'))).toBe(false);
    expect(await world.queues.get('archive').count()).toBe(0);
  });

  it('one request with two versions of an id is a 400 naming the later one; the same record twice is one', async () => {
    const post = (records: unknown[]) =>
      fetch(`${base}/v1/records`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TEST_KEYS.ingest}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ records }),
      });
    const twice = record('twice-1');
    const clash = await post([twice, record('other'), { ...twice, mapped_data: 'rewritten' }]);
    expect(clash.status).toBe(400);
    const problem = (await clash.json()) as { errors: { path: string; message: string }[] };
    expect(problem.errors).toEqual([
      { path: 'records.2.id', message: expect.stringMatching(/also records\.0/) as string },
    ]);
    expect(await world.queues.get('archive').count()).toBe(0);

    // The same content twice (metadata keys in another order) is no clash: stored once.
    const reordered = {
      ...twice,
      metadata: { nested: { a: [1, 'x'], b: 2 }, detector: 'example' },
    };
    const once = await post([twice, reordered]);
    expect(once.status).toBe(202);
    const { jobs } = (await once.json()) as { jobs: { id: string }[] };
    expect(jobs).toHaveLength(1);
    const result = (await finish(jobs[0]!.id, 'archive')) as RecordsInsertResult;
    expect(await indexRows('twice-1')).toBe(1);
    expect(result).toMatchObject({ stored: 1, conflicts: 0 });
  });

  it('a job retried after a crash at any step leaves one object, one index row and one hot row per record', async () => {
    const batch = [record('crash-1', 2), record('crash-2', 2), record('crash-3')];
    const deps: RecordsInsertDeps = {
      records: world.deps.records,
      index: world.deps.recordIndex,
      archive: world.deps.wormArchive,
      batches: world.deps.batches,
      settings: world.deps.settings.archive,
    };
    const ctx: JobContext = {
      jobId: 'records.insert.direct',
      name: 'records.insert',
      queue: 'archive',
      attempt: 1,
      maxAttempts: 1,
      log: world.deps.log,
      metrics: NO_JOB_METRICS,
      signal: new AbortController().signal,
      progress: () => Promise.resolve(),
      checkpoint: undefined,
      saveCheckpoint: () => Promise.resolve(),
      childResults: () => Promise.resolve({}),
      note: () => undefined,
      meta: {},
    };
    // As the runner hands an inline payload over: parsed by the job's schema.
    const payload = { records: batch.map((r) => storageRecordSchema.parse(r)) };
    const crash = () => Promise.reject(new Error('worker killed'));

    // Killed after the object was locked, before the index: the retry reuses the object.
    await expect(
      createRecordsInsertHandler({
        ...deps,
        index: { find: (ids) => deps.index.find(ids), add: crash },
      })(payload, ctx),
    ).rejects.toThrow('worker killed');
    expect(await world.deps.records.count()).toBe(0);
    // Killed after the index, before the hot rows: the retry finds the index rows its own.
    await expect(
      createRecordsInsertHandler({ ...deps, records: { insert: crash } })(payload, ctx),
    ).rejects.toThrow('worker killed');
    const retried = await createRecordsInsertHandler(deps)(payload, ctx);
    expect(retried).toMatchObject({ received: 3, stored: 0, unchanged: 3, hot_written: 3 });
    // And run once more, as a redelivered job would be.
    const again = await createRecordsInsertHandler(deps)(payload, ctx);
    expect(again).toMatchObject({ received: 3, unchanged: 3, conflicts: 0, hot_written: 0 });

    const versions = await world.deps.s3.send(
      new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'records/' }),
    );
    expect(versions.Versions).toHaveLength(1);
    for (const r of batch) {
      expect(await world.deps.records.rowsOf(r.id)).toBe(1);
      expect(await indexRows(r.id)).toBe(1);
      expect((await reader.getRecord(r.id))?.record).toEqual(r);
    }
  });
});
