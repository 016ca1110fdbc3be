// ClickHouse retention by partition drops against the local server: what a dropped day
// takes and what it must leave (movers, older sightings, a racing insert, versions), and a
// table of an older Stowage (no partitions) still deleted by mutations.
import { randomBytes } from 'node:crypto';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StoredIoc } from '../../src/domain/ioc.js';
import { utcDayOf } from '../../src/domain/utc-day.js';
import { ClickHouseHotRetention } from '../../src/stores/clickhouse/clickhouse-hot-retention.js';
import { ClickHouseHotStore } from '../../src/stores/clickhouse/clickhouse-hot-store.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// Day D (archived, past the window, over a week old) and the days around it; the cutoff
// is well after D+3.
const D = Date.UTC(2025, 4, 6);
const CUTOFF = new Date(D + 10 * DAY);

function env(key: string): string {
  const value = process.env[key];
  if (!value) throw new Error(`${key} is not set (is the globalSetup configured?)`);
  return value;
}

function ioc(value: string, lastSeen: number, extra: Partial<StoredIoc> = {}): StoredIoc {
  return {
    type: 'domain',
    value,
    threat_type: 'c2',
    confidence: 0.8,
    sources: ['otx'],
    first_seen: new Date(lastSeen - HOUR),
    last_seen: new Date(lastSeen),
    tags: [],
    ...extra,
  };
}

describe('ClickHouse retention by partition drops', () => {
  let client: ClickHouseClient;
  const databases: string[] = [];

  beforeAll(() => {
    client = createClient({ url: env('CLICKHOUSE_URL') });
  });
  afterEach(async () => {
    for (const db of databases.splice(0)) {
      await client.command({ query: `DROP DATABASE IF EXISTS ${db}` });
    }
  });
  afterAll(() => client.close());

  async function open(options: { beforePartitionDrop?: () => Promise<void> } = {}) {
    const database = `t_${randomBytes(6).toString('hex')}`;
    databases.push(database);
    const store = new ClickHouseHotStore(client, { database });
    await store.init();
    const retention = new ClickHouseHotRetention(client, { database, ...options });
    return { database, store, retention };
  }

  const rows = async (query: string) =>
    (await client.query({ query, format: 'JSONEachRow' })).json<Record<string, unknown>>();
  const partitions = async (database: string) =>
    (
      await rows(
        `SELECT DISTINCT partition FROM system.parts
         WHERE database = '${database}' AND table = 'ioc_sightings' AND active ORDER BY partition`,
      )
    ).map((r) => r.partition);

  /** Bounds as the ledger gives them: every listed day archived now, at the store's mark. */
  async function archived(store: ClickHouseHotStore, ...days: number[]) {
    const mark = await store.versionHighWater();
    return new Map(days.map((d) => [utcDayOf(new Date(d)), mark]));
  }

  it('with D and D+3 archived, one batch drops both days: an indicator seen on both is carried, then goes whole with D+3', async () => {
    const { database, store, retention } = await open();
    await store.upsert([ioc('gone.example.com', D + HOUR)]);
    await store.upsert([ioc('mover.example.com', D + 2 * HOUR, { sources: ['a'], tags: ['x'] })]);
    await store.upsert([
      ioc('mover.example.com', D + 3 * DAY, { sources: ['b'], confidence: 0.5, tags: ['y'] }),
    ]);
    const moverBefore = await store.get('domain', 'mover.example.com');
    const bounds = await archived(store, D, D + 3 * DAY);
    const daysBefore = await store.windowDays(CUTOFF);

    expect(
      await retention.plannedBatches(
        await retention.daysBefore(CUTOFF, bounds),
        CUTOFF,
        bounds,
        1_000,
      ),
    ).toBe(1);
    const batch = await retention.deleteBatch(CUTOFF, bounds, 1_000);
    // D (gone) and D+3 (the mover, archived at its version) go in one batch of whole days.
    expect(batch.rows).toBe(2);
    expect(await store.get('domain', 'gone.example.com')).toBeUndefined();
    expect(await store.count()).toBe(0);
    expect(await partitions(database)).toEqual([]);
    expect(moverBefore).toMatchObject({
      first_seen: new Date(D + HOUR),
      last_seen: new Date(D + 3 * DAY),
      sources: ['a', 'b'],
      tags: ['x', 'y'],
      confidence: 0.5,
    });
    expect(daysBefore.map((d) => d.day)).toEqual([
      utcDayOf(new Date(D)),
      utcDayOf(new Date(D + 3 * DAY)),
    ]);
  });

  it('dropping D alone carries the mover into its own day: same merged row, same version', async () => {
    const { database, store, retention } = await open();
    await store.upsert([ioc('gone.example.com', D + HOUR)]);
    await store.upsert([ioc('mover.example.com', D + 2 * HOUR, { sources: ['a'], tags: ['x'] })]);
    await store.upsert([
      ioc('mover.example.com', D + 3 * DAY, { sources: ['b'], confidence: 0.5, tags: ['y'] }),
    ]);
    const before = await store.get('domain', 'mover.example.com');
    const versionBefore = (await store.windowDays(CUTOFF)).find(
      (d) => d.day === utcDayOf(new Date(D + 3 * DAY)),
    )?.version;
    // Only D is archived: D+3 is blocked, the mover stays.
    const bounds = await archived(store, D);

    const batch = await retention.deleteBatch(CUTOFF, bounds, 1_000);
    expect(batch).toEqual({ rows: 1, oldest: new Date(D + HOUR), newest: new Date(D + HOUR) });
    expect(await store.get('domain', 'gone.example.com')).toBeUndefined();
    expect(await store.get('domain', 'mover.example.com')).toEqual(before);
    expect(await partitions(database)).toEqual(['20250509']);
    const after = await store.windowDays(CUTOFF);
    expect(after).toEqual([
      { day: utcDayOf(new Date(D + 3 * DAY)), rows: 1, version: versionBefore },
    ]);
    // A rerun finds nothing more to drop, and carries nothing twice.
    expect(await retention.deleteBatch(CUTOFF, bounds, 1_000)).toMatchObject({ rows: 0 });
    expect(await store.get('domain', 'mover.example.com')).toEqual(before);
  });

  it('an indicator of day D whose older sightings sit in an unarchived older day is deleted whole', async () => {
    const { database, store, retention } = await open();
    await store.upsert([ioc('whole.example.com', D - 2 * DAY, { sources: ['old'] })]);
    await store.upsert([ioc('whole.example.com', D + HOUR)]);
    await store.upsert([ioc('stays.example.com', D - 2 * DAY + HOUR)]);
    const bounds = await archived(store, D);

    const batch = await retention.deleteBatch(CUTOFF, bounds, 1_000);
    expect(batch.rows).toBe(1);
    expect(await store.get('domain', 'whole.example.com')).toBeUndefined();
    expect(await rows(`SELECT value FROM ${database}.ioc_sightings ORDER BY value`)).toEqual([
      { value: 'stays.example.com' },
    ]);
  });

  it('a sighting inserted into the day while it is dropped survives', async () => {
    const racing: { store?: ClickHouseHotStore } = {};
    const { retention, store } = await open({
      // The racing insert: after the indicators were read, before the partition goes.
      beforePartitionDrop: async () => {
        await racing.store!.upsert([ioc('late.example.com', D + 5 * HOUR)]);
      },
    });
    racing.store = store;
    await store.upsert([ioc('gone.example.com', D + HOUR)]);
    const bounds = await archived(store, D);

    expect((await retention.deleteBatch(CUTOFF, bounds, 1_000)).rows).toBe(1);
    expect(await store.get('domain', 'gone.example.com')).toBeUndefined();
    expect(await store.get('domain', 'late.example.com')).toEqual(
      ioc('late.example.com', D + 5 * HOUR),
    );
    // Newer than the day's archive: kept, not deletable, until the day is archived again.
    const days = await retention.daysBefore(CUTOFF, bounds);
    expect(days).toMatchObject([{ day: utcDayOf(new Date(D)), rows: 1, archived: 0 }]);
  });

  it('a drop left unrestored by a dead run is finished by the next run: the late sighting comes back', async () => {
    const { database, store, retention } = await open();
    await store.upsert([ioc('gone.example.com', D + HOUR)]);
    const bounds = await archived(store, D);
    const [row] = await rows('SELECT toUInt32(now()) AS s');
    const mark = Number(row?.s);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    // What a run that died right after its drop leaves: its pending marker, the partition
    // gone, and a sighting inserted meanwhile only in the journal.
    await store.upsert([ioc('late.example.com', D + 5 * HOUR)]);
    await client.command({
      query: `INSERT INTO ${database}.ioc_sightings_journal
        (type, value, threat_type, confidence, sources, tags, first_seen_ms, last_seen_ms, sighting_id, journaled_at)
        VALUES ('', '', '', 0, [], [], ${mark}, ${D}, 'pending', now())`,
    });
    await client.command({
      query: `ALTER TABLE ${database}.ioc_sightings DROP PARTITION 20250506`,
    });
    expect(await store.count()).toBe(0);

    await retention.deleteBatch(CUTOFF, bounds, 1_000);
    expect(await store.get('domain', 'gone.example.com')).toBeUndefined();
    expect(await store.get('domain', 'late.example.com')).toEqual(
      ioc('late.example.com', D + 5 * HOUR),
    );
  });

  it('a day with an indicator changed since its archive is not dropped: the archived ones go by mutation, the changed one stays', async () => {
    const { database, store, retention } = await open();
    await store.upsert([ioc('gone.example.com', D + HOUR)]);
    const bounds = await archived(store, D);
    await store.upsert([ioc('changed.example.com', D + 2 * HOUR)]);

    const days = await retention.daysBefore(CUTOFF, bounds);
    expect(await retention.plannedBatches(days, CUTOFF, bounds, 1_000)).toBe(1);
    expect((await retention.deleteBatch(CUTOFF, bounds, 1_000)).rows).toBe(1);
    expect(await store.get('domain', 'gone.example.com')).toBeUndefined();
    expect(await store.get('domain', 'changed.example.com')).toBeDefined();
    expect(await partitions(database)).toEqual(['20250506']);
  });

  it('a table of an older Stowage (no partitions) is still deleted from, by mutations', async () => {
    const database = `t_${randomBytes(6).toString('hex')}`;
    databases.push(database);
    await client.command({ query: `CREATE DATABASE ${database}` });
    // The DDL before partitions (and before carried_version).
    await client.command({
      query: `CREATE TABLE ${database}.ioc_sightings (
        type String, value String, threat_type String, confidence Float64,
        sources Array(String), tags Array(String), first_seen_ms Int64, last_seen_ms Int64,
        sighting_id String,
        first_seen DateTime('UTC') MATERIALIZED toDateTime(least(greatest(intDiv(first_seen_ms, 1000), 0), 4294967295)),
        last_seen DateTime('UTC') MATERIALIZED toDateTime(least(greatest(intDiv(last_seen_ms, 1000), 0), 4294967295)),
        inserted_at DateTime('UTC') MATERIALIZED now())
        ENGINE = ReplacingMergeTree ORDER BY (type, value, sighting_id)`,
    });
    const store = new ClickHouseHotStore(client, { database });
    await store.init();
    const retention = new ClickHouseHotRetention(client, { database });
    await store.upsert([
      ioc('gone.example.com', D + HOUR),
      ioc('recent.example.com', D + 20 * DAY),
    ]);
    const bounds = await archived(store, D);

    expect((await retention.deleteBatch(CUTOFF, bounds, 1_000)).rows).toBe(1);
    expect(await store.get('domain', 'gone.example.com')).toBeUndefined();
    expect(await store.count()).toBe(1);
  });
});
