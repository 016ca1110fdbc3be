// detections.archive and the `detections` retention target through real BullMQ, against the
// PostgreSQL detections (whatever HOT_STORE), the detection archive ledger and Ceph RGW with
// Object Lock (GOVERNANCE, so the bucket can be removed afterwards). Each test has its own
// queues, schema and bucket; its days lie a few days back and the window is overridden to 0.
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, GetObjectRetentionCommand } from '@aws-sdk/client-s3';
import { Job } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DetectionsArchiveResult } from '../../jobs/detections-archive/handler.js';
import type {
  DetectionRetentionReport,
  RetentionReport,
} from '../../jobs/retention-cleanup/report.js';
import {
  detectionArchiveManifestKey,
  type ArchivedDetection,
  type DetectionArchiveManifest,
} from '../../src/domain/detection-archive.js';
import type { DetectionStatus } from '../../src/domain/detection.js';
import { utcDayOf, utcDayWindow } from '../../src/domain/utc-day.js';
import { randomBucketName, removeBucket } from '../helpers/buckets.js';
import { StowageWorld, eventually } from '../helpers/world.js';

const DAY = 86_400_000;
const daysAgo = (n: number) => utcDayOf(new Date(Date.now() - n * DAY));

/** n detections on a UTC day, a minute apart, all New. */
function detectionsOn(day: string, n: number, prefix: string) {
  const start = utcDayWindow(day).start.getTime();
  return Array.from({ length: n }, (_, i) => {
    const at = new Date(start + i * 60_000).toISOString();
    return {
      detection_id: `${prefix}_${i}`,
      timestamp: at,
      ioc_value: `host-${i}.example.com`,
      ioc_type: 'domain',
      activity_event_id: `evt_${prefix}_${i}`,
      activity_source: 'dns',
      severity: 'HIGH',
      confidence: 0.75,
      first_seen: at,
      last_seen: at,
      status: 'New',
      case_id: null,
    };
  });
}

describe('detection archive and retention', () => {
  let world: StowageWorld;
  let bucket: string;
  const D1 = daysAgo(5);
  const D2 = daysAgo(4);

  async function open(env: Record<string, string> = {}) {
    bucket = randomBucketName('detarch');
    world = new StowageWorld({
      HOT_STORE: 'postgres',
      ARCHIVE_BUCKET: bucket,
      ARCHIVE_LOCK_MODE: 'GOVERNANCE',
      ARCHIVE_RETENTION_YEARS: '1',
      ARCHIVE_PART_ROWS: '4',
      ...env,
    });
    await world.initStores();
    await world.deps.wormArchive.ensureBucket();
    await world.startWorker(['archive', 'maintenance']);
  }
  beforeEach(async () => {
    await open();
  });
  afterEach(async () => {
    try {
      await removeBucket(world.deps.s3, bucket);
    } finally {
      await world.close();
    }
  });

  /** Enqueues a job and waits until it completes; its return value. */
  async function run<T>(
    name: 'detections.archive' | 'retention.cleanup',
    payload: Record<string, unknown>,
  ): Promise<T> {
    const queueName = name === 'detections.archive' ? 'archive' : 'maintenance';
    const { id } = await world.producer.enqueue(name, payload);
    const queue = world.queues.get(queueName);
    await eventually(
      async () => {
        const state = await queue.getJobState(id);
        return state === 'completed' || state === 'failed' ? state : undefined;
      },
      120_000,
      `${name} ${id}`,
    );
    const job = await Job.fromId(queue, id);
    expect(job?.failedReason, `${name} failedReason`).toBeUndefined();
    return job!.returnvalue as T;
  }
  const archive = (payload: { day?: string } = {}) =>
    run<DetectionsArchiveResult>('detections.archive', payload);
  const retention = async (dryRun = false): Promise<DetectionRetentionReport> =>
    (
      await run<RetentionReport>('retention.cleanup', {
        dry_run: dryRun,
        detection_days: 0,
        targets: ['detections'],
      })
    ).targets.detections!;
  const insert = (rows: unknown[]) => world.deps.detections.upsertBatch(JSON.stringify(rows));
  const move = async (id: string, ...statuses: DetectionStatus[]) => {
    for (const status of statuses) {
      const result = await world.deps.detections.changeStatus({
        detectionId: id,
        status,
        by: 'analyst@example.com',
        note: `to ${status}`,
      });
      expect(result.outcome, `${id} → ${status}`).toBe('changed');
    }
  };
  const ids = async () =>
    (await world.deps.detections.search({}, { limit: 100 })).detections
      .map((d) => d.detection_id)
      .sort();
  const object = async (key: string) => {
    const out = await world.deps.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await out.Body!.transformToByteArray());
  };
  /** The detections a generation's parts hold, read back from the bucket (manifest, then parts). */
  const archived = async (day: string, generation: number) => {
    const manifest = JSON.parse(
      (await object(detectionArchiveManifestKey(day, generation))).toString('utf8'),
    ) as DetectionArchiveManifest;
    const lines: ArchivedDetection[] = [];
    for (const part of manifest.parts) {
      const text = gunzipSync(await object(part.key)).toString('utf8');
      lines.push(
        ...text
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as ArchivedDetection),
      );
    }
    return { manifest, lines };
  };

  it('archives each finished day with status histories into the locked bucket; retention deletes the archived terminal detections and keeps open ones; reruns and dry runs change nothing', async () => {
    await insert([...detectionsOn(D1, 6, 'a'), ...detectionsOn(D2, 2, 'b')]);
    // Terminal: a_0 Closed (two changes), a_1 False Positive, a_2 Resolved, b_0 Closed.
    // Open: a_3 Investigating, a_4 Escalated, a_5 and b_1 New.
    await move('a_0', 'Investigating', 'Closed');
    await move('a_1', 'False Positive');
    await move('a_2', 'Resolved');
    await move('a_3', 'Investigating');
    await move('a_4', 'Escalated');
    await move('b_0', 'Closed');

    const result = await archive();
    expect(result.days.map((d) => [d.day, d.generation, d.rows, d.parts])).toEqual([
      [D1, 1, 6, 2],
      [D2, 1, 2, 1],
    ]);
    const { manifest, lines } = await archived(D1, 1);
    expect(manifest).toMatchObject({ kind: 'detections', day: D1, generation: 1, rows: 6 });
    expect(manifest.high_water).toBe(result.days[0]!.high_water);
    expect(lines.map((l) => l.detection_id)).toEqual(['a_0', 'a_1', 'a_2', 'a_3', 'a_4', 'a_5']);
    const closed = lines[0]!;
    expect(closed).toMatchObject({
      detection_id: 'a_0',
      ioc_value: 'host-0.example.com',
      severity: 'HIGH',
      confidence: 0.75,
      status: 'Closed',
    });
    expect(closed.history.map((h) => [h.from_status, h.to_status, h.changed_by, h.note])).toEqual([
      ['New', 'Investigating', 'analyst@example.com', 'to Investigating'],
      ['Investigating', 'Closed', 'analyst@example.com', 'to Closed'],
    ]);
    expect(lines[5]!.history).toEqual([]);
    const lock = await world.deps.s3.send(
      new GetObjectRetentionCommand({ Bucket: bucket, Key: manifest.parts[0]!.key }),
    );
    expect(lock.Retention?.Mode).toBe('GOVERNANCE');
    const ledger = await world.deps.detectionArchiveLedger.get(D1);
    expect(ledger).toMatchObject({
      generation: 1,
      rows: 6,
      manifest_key: manifest.parts[0]!.key.replace(/part-00001\.ndjson\.gz$/, 'manifest.json'),
    });

    // A rerun finds nothing to archive; the day given explicitly is skipped as archived.
    expect((await archive()).days).toEqual([]);
    expect((await archive({ day: D1 })).days[0]).toMatchObject({
      generation: 1,
      skipped: 'already_archived',
    });

    // Dry run: the same report, nothing deleted.
    const dry = await retention(true);
    expect(dry).toMatchObject({
      rows: 4,
      kept_open: 4,
      blocked_unarchived: 0,
      kept_changed_since_archive: 0,
      archive_required: true,
      batches: 1,
    });
    expect(await world.deps.detections.count()).toBe(8);

    const real = await retention();
    expect(real).toMatchObject({
      rows: 4,
      kept_open: 4,
      kept_changed_since_archive: 0,
      batches: 1,
    });
    expect(await ids()).toEqual(['a_3', 'a_4', 'a_5', 'b_1']);
    // The history went with its detection.
    const { rows: history } = await world.deps.pg.query<{ n: string }>(
      `SELECT count(*) AS n FROM "${world.config.DATABASE_SCHEMA}".detection_status_history
       WHERE detection_id IN ('a_0', 'a_1', 'a_2', 'b_0')`,
    );
    expect(Number(history[0]?.n)).toBe(0);

    // Reruns: nothing left to delete, nothing to archive; the archive is still there.
    expect(await retention()).toMatchObject({ rows: 0, kept_open: 4 });
    expect((await archive()).days).toEqual([]);
    expect((await archived(D1, 1)).lines).toHaveLength(6);
  });

  it('a detection changed after its archive is kept until the next generation holds it; a day never archived is kept', async () => {
    await insert(detectionsOn(D1, 2, 'c'));
    await move('c_0', 'Resolved');
    await move('c_1', 'Resolved');
    expect((await archive({ day: D1 })).days[0]).toMatchObject({ day: D1, generation: 1, rows: 2 });
    // After the archive: c_1 closes for good, and D2 gets a detection no archive holds.
    await move('c_1', 'Closed');
    await insert(detectionsOn(D2, 1, 'd'));
    await move('d_0', 'False Positive');

    const kept = await retention();
    expect(kept).toMatchObject({
      rows: 1,
      kept_open: 0,
      blocked_unarchived: 1,
      kept_changed_since_archive: 1,
    });
    expect(await ids()).toEqual(['c_1', 'd_0']);

    // The change makes D1 pending again: generation 2 holds c_1 as Closed, with its history.
    const next = await archive();
    expect(next.days.map((d) => [d.day, d.generation, d.rows])).toEqual([
      [D1, 2, 1],
      [D2, 1, 1],
    ]);
    const [c1] = (await archived(D1, 2)).lines;
    expect(c1).toMatchObject({ detection_id: 'c_1', status: 'Closed' });
    expect(c1!.history.map((h) => h.to_status)).toEqual(['Resolved', 'Closed']);
    expect((await archived(D1, 1)).lines.find((l) => l.detection_id === 'c_1')?.status).toBe(
      'Resolved',
    );
    expect(await retention()).toMatchObject({ rows: 2, blocked_unarchived: 0 });
    expect(await world.deps.detections.count()).toBe(0);
  });

  it('a status change racing the delete keeps the row: the DELETE checks the high-water mark itself', async () => {
    await insert(detectionsOn(D1, 1, 'e'));
    await move('e_0', 'Resolved');
    await archive({ day: D1 });
    const cutoff = utcDayWindow(utcDayOf(new Date())).start;
    expect(await world.deps.detectionRetention.summary(cutoff, true)).toMatchObject({
      deletable: 1,
    });
    // A status change holds the row while the delete starts: the delete selects the row at its
    // archived version, waits for the lock, then sees the changed one.
    const table = `"${world.config.DATABASE_SCHEMA}".detections`;
    const client = await world.deps.pg.connect();
    try {
      await client.query('BEGIN');
      await client.query(
        `UPDATE ${table} SET status = 'Closed', updated_at = clock_timestamp()
         WHERE detection_id = 'e_0'`,
      );
      const deleting = world.deps.detectionRetention.deleteBatch(cutoff, true, 10);
      await eventually(
        async () => {
          const { rows } = await world.deps.pg.query<{ n: string }>(
            `SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid()
             AND (locktype = 'transactionid' OR relation = to_regclass($1))`,
            [table],
          );
          return Number(rows[0]?.n) > 0 ? true : undefined;
        },
        30_000,
        'the delete waits for the status change',
      );
      await client.query('COMMIT');
      expect(await deleting).toMatchObject({ rows: 0 });
    } finally {
      client.release();
    }
    expect(await ids()).toEqual(['e_0']);
    expect(await world.deps.detectionRetention.summary(cutoff, true)).toMatchObject({
      deletable: 0,
      kept_changed_since_archive: 1,
    });
  });

  it('deletes in batches of the size asked, oldest first', async () => {
    await insert(detectionsOn(D1, 5, 'h'));
    for (let i = 0; i < 5; i += 1) await move(`h_${i}`, 'Closed');
    await archive({ day: D1 });
    const cutoff = utcDayWindow(utcDayOf(new Date())).start;
    const first = await world.deps.detectionRetention.deleteBatch(cutoff, true, 2);
    expect(first).toEqual({
      rows: 2,
      oldest: utcDayWindow(D1).start,
      newest: new Date(utcDayWindow(D1).start.getTime() + 60_000),
    });
    expect(await ids()).toEqual(['h_2', 'h_3', 'h_4']);
    expect((await world.deps.detectionRetention.deleteBatch(cutoff, true, 2)).rows).toBe(2);
    expect((await world.deps.detectionRetention.deleteBatch(cutoff, true, 2)).rows).toBe(1);
    expect(await world.deps.detections.count()).toBe(0);
  });

  it('with ARCHIVE_ENABLED=false every terminal detection past the window goes, open ones stay', async () => {
    await removeBucket(world.deps.s3, bucket);
    await world.close();
    await open({ ARCHIVE_ENABLED: 'false' });
    await insert([...detectionsOn(D1, 3, 'f'), ...detectionsOn(daysAgo(0), 1, 'g')]);
    await move('f_0', 'Closed');
    await move('f_1', 'Investigating');
    await move('g_0', 'Closed');
    const report = await retention();
    expect(report).toMatchObject({ rows: 1, kept_open: 2, archive_required: false });
    // Today is inside any window (detection_days 0 keeps the day not over yet).
    expect(await ids()).toEqual(['f_1', 'f_2', 'g_0']);
  });
});
