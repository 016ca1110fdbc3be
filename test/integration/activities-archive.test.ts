// activities.archive and the `activities` retention target through real BullMQ, against both
// hot stores, the PostgreSQL ledger and Ceph RGW with Object Lock (GOVERNANCE, so the
// bucket can be removed afterwards). Each test has its own queues, schema or database and
// bucket; its days lie a few days back and the windows are overridden to 0.
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, GetObjectRetentionCommand } from '@aws-sdk/client-s3';
import { Job } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ActivitiesArchiveResult } from '../../jobs/activities-archive/handler.js';
import type { RetentionReport } from '../../jobs/retention-cleanup/report.js';
import {
  activityArchiveLine,
  activityArchiveManifestKey,
  type ActivityArchiveManifest,
} from '../../src/domain/activity-archive.js';
import type { StoredActivity } from '../../src/domain/activity.js';
import { utcDayOf, utcDayWindow } from '../../src/domain/utc-day.js';
import { TransientError } from '../../src/errors/index.js';
import { randomBucketName, removeBucket } from '../helpers/buckets.js';
import { StowageWorld, eventually } from '../helpers/world.js';

const DAY = 86_400_000;
const daysAgo = (n: number) => utcDayOf(new Date(Date.now() - n * DAY));

/** n dns_query events on a UTC day, a minute apart from `fromMinute`. */
function eventsOn(day: string, n: number, fromMinute = 0, prefix = 'evt'): StoredActivity[] {
  const start = utcDayWindow(day).start.getTime();
  return Array.from({ length: n }, (_, i) => ({
    event_id: `${prefix}_${fromMinute + i}`,
    timestamp: new Date(start + (fromMinute + i) * 60_000).toISOString(),
    source: 'dns',
    event_type: 'dns_query',
    domain: `host-${fromMinute + i}.example.com`,
    attributes: { zeta: 1, alpha: { b: 2, a: 1 } },
  }));
}

describe.each(['postgres', 'clickhouse'] as const)(
  'activity archive and retention on %s',
  (hotStore) => {
    let world: StowageWorld;
    let bucket: string;
    const D1 = daysAgo(5);
    const D2 = daysAgo(4);

    beforeEach(async () => {
      bucket = randomBucketName('actarch');
      world = new StowageWorld({
        HOT_STORE: hotStore,
        ARCHIVE_BUCKET: bucket,
        ARCHIVE_LOCK_MODE: 'GOVERNANCE',
        ARCHIVE_RETENTION_YEARS: '1',
        ARCHIVE_SSE: 'aws:kms',
        ARCHIVE_KMS_KEY_ID: 'stowage-archive-key',
        ARCHIVE_PART_ROWS: '8',
      });
      await world.initStores();
      await world.deps.wormArchive.ensureBucket();
      await world.startWorker(['archive', 'maintenance']);
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
      name: 'activities.archive' | 'retention.cleanup',
      payload: Record<string, unknown>,
    ): Promise<T> {
      const queueName = name === 'activities.archive' ? 'archive' : 'maintenance';
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
      run<ActivitiesArchiveResult>('activities.archive', payload);
    const retention = async (dryRun = false) =>
      (
        await run<RetentionReport>('retention.cleanup', {
          dry_run: dryRun,
          activity_days: 0,
          targets: ['activities'],
        })
      ).targets.activities!;
    const counts = async () =>
      Object.fromEntries(
        (await world.deps.activities.dayCounts(utcDayOf(new Date()))).map((d) => [d.day, d.rows]),
      );
    const object = async (key: string) => {
      const out = await world.deps.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await out.Body!.transformToByteArray());
    };
    /** The events a generation's parts hold, read back from the bucket (manifest, then parts). */
    const archived = async (day: string, generation: number) => {
      const manifest = JSON.parse(
        (await object(activityArchiveManifestKey(day, generation))).toString('utf8'),
      ) as ActivityArchiveManifest;
      const lines: string[] = [];
      for (const part of manifest.parts) {
        const text = gunzipSync(await object(part.key)).toString('utf8');
        lines.push(...text.split('\n').filter((l) => l !== ''));
      }
      return { manifest, lines };
    };

    it('archives each finished day into the locked bucket, then retention drops exactly those partitions; reruns are no-ops', async () => {
      const first = eventsOn(D1, 20);
      const second = eventsOn(D2, 5);
      await world.deps.activities.insert([...first, ...second]);

      const result = await archive();
      expect(result.days.map((d) => [d.day, d.generation, d.rows, d.parts])).toEqual([
        [D1, 1, 20, 3],
        [D2, 1, 5, 1],
      ]);
      // Every event is in the archive, as the store answers it, in the search order.
      const { manifest, lines } = await archived(D1, 1);
      expect(manifest).toMatchObject({ kind: 'activities', day: D1, generation: 1, rows: 20 });
      expect(manifest.backend).toBe(hotStore);
      expect(lines).toHaveLength(20);
      expect(lines.map((l) => `${l}\n`)).toEqual(first.map(activityArchiveLine));
      expect(JSON.parse(lines[0]!)).toMatchObject({
        event_id: 'evt_0',
        source: 'dns',
        domain: 'host-0.example.com',
        attributes: { alpha: { a: 1, b: 2 }, zeta: 1 },
      });
      const lock = await world.deps.s3.send(
        new GetObjectRetentionCommand({ Bucket: bucket, Key: manifest.parts[0]!.key }),
      );
      expect(lock.Retention?.Mode).toBe('GOVERNANCE');
      expect((await archived(D2, 1)).lines).toHaveLength(5);

      // A rerun finds nothing to archive.
      expect((await archive()).days).toEqual([]);

      // Dry run: the same plan, nothing dropped.
      const dry = await retention(true);
      expect(dry.days).toEqual([
        { day: D1, rows: 20 },
        { day: D2, rows: 5 },
      ]);
      expect(dry.rows).toBe(25);
      expect(dry.blocked_unarchived).toEqual([]);
      expect(await counts()).toEqual({ [D1]: 20, [D2]: 5 });

      const real = await retention();
      expect(real.days).toEqual(dry.days);
      expect(real.rows).toBe(25);
      expect(await counts()).toEqual({});
      expect(await world.deps.activities.count()).toBe(0);
      const ledger = await world.deps.activityArchiveLedger.get(D1);
      expect(ledger?.dropped_at).toBeInstanceOf(Date);

      // Reruns: nothing left to drop, nothing to archive; the archive is still there.
      const again = await retention();
      expect(again.days).toEqual([]);
      expect(again.rows).toBe(0);
      expect((await archive()).days).toEqual([]);
      expect((await archived(D1, 1)).lines).toHaveLength(20);
    });

    it('keeps a day never archived and a day with a late event until the next archive holds them', async () => {
      await world.deps.activities.insert(eventsOn(D1, 6));
      expect((await archive({ day: D1 })).days[0]).toMatchObject({
        day: D1,
        generation: 1,
        rows: 6,
      });
      await world.deps.activities.insert([...eventsOn(D2, 3), ...eventsOn(D1, 1, 600, 'late')]);

      const kept = await retention();
      expect(kept.days).toEqual([]);
      expect(kept.blocked_unarchived).toEqual([{ day: D2, rows: 3 }]);
      expect(kept.kept_changed_since_archive).toEqual([{ day: D1, rows: 7 }]);
      expect(await counts()).toEqual({ [D1]: 7, [D2]: 3 });

      // The late event makes D1 pending again: generation 2 holds all seven.
      const next = await archive();
      expect(next.days.map((d) => [d.day, d.generation, d.rows])).toEqual([
        [D1, 2, 7],
        [D2, 1, 3],
      ]);
      expect((await archived(D1, 2)).lines.some((l) => l.includes('"late_600"'))).toBe(true);
      expect((await archived(D1, 1)).lines).toHaveLength(6);
      const dropped = await retention();
      expect(dropped.days).toEqual([
        { day: D1, rows: 7 },
        { day: D2, rows: 3 },
      ]);
      expect(await counts()).toEqual({});

      // An event arriving after the drop is a generation of its own, kept until archived.
      const straggler = eventsOn(D1, 1, 900, 'straggler');
      await world.deps.activities.insert(straggler);
      const blocked = await retention();
      expect(blocked.days).toEqual([]);
      expect(blocked.blocked_unarchived).toEqual([{ day: D1, rows: 1 }]);
      const third = await archive();
      expect(third.days.map((d) => [d.day, d.generation, d.rows])).toEqual([[D1, 3, 1]]);
      expect((await archived(D1, 3)).lines.map((l) => `${l}\n`)).toEqual(
        straggler.map(activityArchiveLine),
      );
      expect((await retention()).days).toEqual([{ day: D1, rows: 1 }]);
      expect(await counts()).toEqual({});
    });

    it('an event inserted while its day is being dropped waits for the drop and is kept', async () => {
      await world.deps.activities.insert(eventsOn(D1, 4));
      const late = eventsOn(D1, 1, 700, 'racing');
      let insert: Promise<unknown> | undefined;
      const retired = await world.deps.activities.retireDay(D1, 4, async () => {
        // Inside the lock: the insert must wait for it, not land in the partition being dropped.
        insert = world.deps.activities.insert(late).catch((err: unknown) => err);
        await eventually(
          async () => {
            // PostgreSQL: the insert waits for the activities table; ClickHouse: for the day's
            // advisory lock.
            const { rows } = await world.deps.pg.query<{ n: string }>(
              `SELECT count(*) AS n FROM pg_locks WHERE NOT granted
               AND (locktype = 'advisory' OR relation = to_regclass($1))`,
              [`"${world.config.DATABASE_SCHEMA}".activities`],
            );
            return Number(rows[0]?.n) > 0 ? true : undefined;
          },
          30_000,
          'the insert waits for the lock',
        );
      });
      expect(retired).toEqual({ day: D1, rows: 4, dropped: true });
      const outcome = await insert;
      if (outcome instanceof Error) {
        // PostgreSQL: the partition went away under the insert, a transient error; the job's
        // retry creates the partition again.
        expect(hotStore).toBe('postgres');
        expect(outcome).toBeInstanceOf(TransientError);
        await world.deps.activities.insert(late);
      } else {
        expect(outcome).toEqual({ written: 1 });
      }
      expect(await counts()).toEqual({ [D1]: 1 });
      const [kept] = await world.deps.activities.search({
        start: utcDayWindow(D1).start,
        end: utcDayWindow(D1).end,
        limit: 10,
      });
      expect(kept?.event_id).toBe('racing_700');
    });

    it('with ARCHIVE_ENABLED=false every day past the window is dropped', async () => {
      await removeBucket(world.deps.s3, bucket);
      await world.close();
      bucket = randomBucketName('actarch');
      world = new StowageWorld({
        HOT_STORE: hotStore,
        ARCHIVE_ENABLED: 'false',
        ARCHIVE_BUCKET: bucket,
      });
      await world.initStores();
      await world.deps.wormArchive.ensureBucket();
      await world.startWorker(['archive', 'maintenance']);
      await world.deps.activities.insert([...eventsOn(D1, 2), ...eventsOn(daysAgo(0), 1)]);
      const report = await retention();
      expect(report.archive_required).toBe(false);
      expect(report.days).toEqual([{ day: D1, rows: 2 }]);
      // Today is inside any window (activity_days 0 keeps the day not over yet).
      expect(await counts()).toEqual({});
      expect(await world.deps.activities.count()).toBe(1);
    });
  },
);
