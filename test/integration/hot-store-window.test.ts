// The archive's view of both hot-store backends: UTC-day windows of last_seen, streamed in
// (type, value) order by keyset, and the days that hold rows. Same expectations for both;
// each test has its own PostgreSQL schema or ClickHouse database, dropped afterwards.
import { randomBytes } from 'node:crypto';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HotBackendName } from '../../src/config.js';
import type { StoredIoc } from '../../src/domain/ioc.js';
import { ClickHouseHotStore } from '../../src/stores/clickhouse/clickhouse-hot-store.js';
import type { HotStore } from '../../src/stores/hot/hot-store.js';
import { PostgresHotStore } from '../../src/stores/postgres/postgres-hot-store.js';
import { mergeByKey, randomStoredIoc, seededRandom, sortByKey } from '../helpers/hot-store.js';

function env(key: string): string {
  const value = process.env[key];
  if (!value) throw new Error(`${key} is not set (is the globalSetup configured?)`);
  return value;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// A UTC midnight the windows are cut at.
const D0 = Date.UTC(2031, 4, 6);
const at = (ms: number) => new Date(D0 + ms);

interface Backend {
  name: HotBackendName;
  setup(): void;
  teardown(): Promise<void>;
  open(): Promise<HotStore>;
  dropAll(): Promise<void>;
}

const isolatedName = () => `t_${randomBytes(6).toString('hex')}`;

function postgresBackend(): Backend {
  let pool: pg.Pool;
  const schemas: string[] = [];
  return {
    name: 'postgres',
    setup() {
      pool = new pg.Pool({ connectionString: env('DATABASE_URL'), max: 4 });
    },
    teardown: () => pool.end(),
    async open() {
      const schema = isolatedName();
      schemas.push(schema);
      const store = new PostgresHotStore(pool, { schema });
      await store.init();
      return store;
    },
    async dropAll() {
      for (const schema of schemas.splice(0)) {
        await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      }
    },
  };
}

function clickHouseBackend(): Backend {
  let client: ClickHouseClient;
  const databases: string[] = [];
  return {
    name: 'clickhouse',
    setup() {
      client = createClient({ url: env('CLICKHOUSE_URL'), request_timeout: 60_000 });
    },
    teardown: () => client.close(),
    async open() {
      const database = isolatedName();
      databases.push(database);
      const store = new ClickHouseHotStore(client, { database });
      await store.init();
      return store;
    },
    async dropAll() {
      for (const database of databases.splice(0)) {
        await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
      }
    },
  };
}

function ioc(fields: Partial<StoredIoc> & Pick<StoredIoc, 'value'>): StoredIoc {
  return {
    type: 'domain',
    threat_type: 'malware',
    confidence: 0.5,
    sources: ['feed-a'],
    first_seen: at(-DAY),
    last_seen: at(HOUR),
    tags: [],
    ...fields,
  };
}

/** Every batch of a window, checked to be non-empty and at most batchSize long. */
async function collect(
  store: HotStore,
  from: Date,
  to: Date,
  batchSize: number,
): Promise<{ rows: StoredIoc[]; batches: number }> {
  const rows: StoredIoc[] = [];
  let batches = 0;
  for await (const batch of store.streamWindow(from, to, batchSize)) {
    expect(batch.length).toBeGreaterThan(0);
    expect(batch.length).toBeLessThanOrEqual(batchSize);
    rows.push(...batch);
    batches += 1;
  }
  return { rows, batches };
}

const inWindow = (rows: readonly StoredIoc[], from: number, to: number) =>
  sortByKey(rows.filter((r) => r.last_seen.getTime() >= from && r.last_seen.getTime() < to));

describe.each([postgresBackend(), clickHouseBackend()])('$name hot store windows', (backend) => {
  beforeAll(() => backend.setup());
  afterAll(() => backend.teardown());
  afterEach(() => backend.dropAll());

  it('streams exactly the merged rows last seen in [from, to), in (type, value) order, as get returns them', async () => {
    const store = await backend.open();
    const edges = [
      ioc({ value: 'at-start.example.com', last_seen: at(0) }),
      ioc({ value: 'just-before-end.example.com', last_seen: at(DAY - 1) }),
      ioc({ value: 'at-end.example.com', last_seen: at(DAY) }),
      ioc({ value: 'just-before-start.example.com', last_seen: at(-1) }),
      ioc({ type: 'ipv4', value: '10.0.0.1', last_seen: at(5 * HOUR) }),
      ioc({ type: 'url', value: "http://example.com/'quote\\back", last_seen: at(6 * HOUR) }),
    ];
    const random = seededRandom(11);
    const spread = Array.from({ length: 300 }, (_, i) => ({
      ...randomStoredIoc(random, 120),
      last_seen: at(-DAY + ((i * 7_919_033) % (3 * DAY))),
    })).map((r) => ({ ...r, first_seen: new Date(r.last_seen.getTime() - HOUR) }));
    const merged = mergeByKey([...edges, ...spread]);
    await store.upsert(merged);

    const expected = inWindow(merged, D0, D0 + DAY);
    expect(expected.map((r) => r.value)).toContain('at-start.example.com');
    expect(expected.map((r) => r.value)).not.toContain('at-end.example.com');

    for (const batchSize of [1, 7, 1_000]) {
      const { rows, batches } = await collect(store, at(0), at(DAY), batchSize);
      expect(rows, `batchSize ${batchSize}`).toEqual(expected);
      if (batchSize === 7) expect(batches).toBe(Math.ceil(expected.length / 7));
    }
    for (const row of expected.slice(0, 10)) {
      expect(await store.get(row.type, row.value)).toEqual(row);
    }
    // Windows of any length, not just days.
    const { rows: span } = await collect(store, at(-HOUR), at(DAY + HOUR), 50);
    expect(span).toEqual(inWindow(merged, D0 - HOUR, D0 + DAY + HOUR));
  });

  it('an indicator seen again after the window is not in it, however many such keys a page holds', async () => {
    const store = await backend.open();
    // Every key has a sighting in day 0; the odd ones have a later one on day 1 too, so
    // they belong to day 1. Pages of 3 keys then often hold no key of day 0 at all.
    const sightings: StoredIoc[] = [];
    for (let i = 0; i < 40; i++) {
      const value = `k${String(i).padStart(3, '0')}.example.com`;
      sightings.push(ioc({ value, last_seen: at(HOUR + i), sources: ['day-0'] }));
      if (i % 2 === 1 || (i >= 10 && i < 25)) {
        sightings.push(ioc({ value, last_seen: at(DAY + HOUR + i), sources: ['day-1'] }));
      }
    }
    // One upsert per sighting: ClickHouse then holds two sightings of a key, as in life.
    for (const s of sightings) await store.upsert([s]);
    const merged = mergeByKey(sightings);

    const day0 = await collect(store, at(0), at(DAY), 3);
    expect(day0.rows).toEqual(inWindow(merged, D0, D0 + DAY));
    expect(day0.rows.map((r) => r.value)).toEqual(
      Array.from({ length: 40 }, (_, i) => i)
        .filter((i) => i % 2 === 0 && !(i >= 10 && i < 25))
        .map((i) => `k${String(i).padStart(3, '0')}.example.com`),
    );
    const day1 = await collect(store, at(DAY), at(2 * DAY), 3);
    expect(day1.rows).toEqual(inWindow(merged, D0 + DAY, D0 + 2 * DAY));
    // Merged: first_seen and sources from the day-0 sighting too.
    expect(day1.rows[0]).toMatchObject({ sources: ['day-0', 'day-1'] });
  });

  it('pages a window of 25,000 rows without repeating or skipping one', async () => {
    const store = await backend.open();
    const rows = Array.from({ length: 25_000 }, (_, i) =>
      ioc({
        type: i % 3 === 0 ? 'ipv4' : 'domain',
        value: i % 3 === 0 ? `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}` : `h${i}.example.com`,
        last_seen: at((i * 3_457) % DAY),
      }),
    );
    await store.upsert(rows);
    const { rows: streamed, batches } = await collect(store, at(0), at(DAY), 1_000);
    expect(batches).toBe(25);
    expect(streamed).toEqual(sortByKey(rows));
  });

  it('an empty window yields nothing; a bad window or batch size throws', async () => {
    const store = await backend.open();
    await store.upsert([ioc({ value: 'x.example.com', last_seen: at(HOUR) })]);
    expect((await collect(store, at(DAY), at(2 * DAY), 10)).batches).toBe(0);
    await expect(collect(store, at(DAY), at(DAY), 10)).rejects.toThrow(RangeError);
    await expect(collect(store, at(0), at(DAY), 0)).rejects.toThrow(RangeError);
  });

  it('windowDays lists the UTC days of last_seen before a time, oldest first, one count per indicator', async () => {
    const store = await backend.open();
    const sightings = [
      ioc({ value: 'a.example.com', last_seen: at(-DAY + 1) }),
      ioc({ value: 'b.example.com', last_seen: at(-1) }),
      ioc({ value: 'c.example.com', last_seen: at(0) }),
      ioc({ value: 'd.example.com', last_seen: at(2 * DAY + 5) }),
      // Seen on day 0 and again on day 3: counts on day 3 only.
      ioc({ value: 'e.example.com', last_seen: at(HOUR) }),
      ioc({ value: 'e.example.com', last_seen: at(3 * DAY + HOUR) }),
    ];
    for (const s of sightings) await store.upsert([s]);
    const days = async (before: number, from?: number) =>
      (await store.windowDays(at(before), from === undefined ? undefined : at(from))).map(
        ({ day, rows }) => ({ day, rows }),
      );

    expect(await days(10 * DAY)).toEqual([
      { day: '2031-05-05', rows: 2 },
      { day: '2031-05-06', rows: 1 },
      { day: '2031-05-08', rows: 1 },
      { day: '2031-05-09', rows: 1 },
    ]);
    // `before` is exclusive, and an indicator last seen after it is left out entirely.
    expect(await days(3 * DAY + HOUR)).toEqual([
      { day: '2031-05-05', rows: 2 },
      { day: '2031-05-06', rows: 1 },
      { day: '2031-05-08', rows: 1 },
    ]);
    expect(await days(-DAY)).toEqual([]);
    // `from` is inclusive, by the indicator's latest sighting.
    expect(await days(10 * DAY, 2 * DAY + 5)).toEqual([
      { day: '2031-05-08', rows: 1 },
      { day: '2031-05-09', rows: 1 },
    ]);
  });

  it("a day's version rises above an archive's high-water mark when a row of it changes after the mark, and not before", async () => {
    const store = await backend.open();
    const a = ioc({ value: 'a.example.com', last_seen: at(HOUR), sources: ['otx'] });
    await store.upsert([a, ioc({ value: 'b.example.com', last_seen: at(2 * HOUR) })]);
    await store.upsert([ioc({ value: 'c.example.com', last_seen: at(DAY + HOUR) })]);
    const version = async (day: number) =>
      BigInt((await store.windowDays(at(day + DAY), at(day)))[0]!.version);

    const mark = BigInt(await store.versionHighWater());
    const before = [await version(0), await version(DAY)];
    expect(before[0]).toBeLessThanOrEqual(mark);
    expect(before[1]).toBeLessThanOrEqual(mark);
    if (backend.name === 'postgres') {
      // A replay changes nothing, so it is no new version. (In ClickHouse it is a second
      // copy of the sighting, inserted later: the day looks changed and is archived again.)
      await store.upsert([a]);
      expect(await version(0)).toBe(before[0]);
    }

    // The same indicator with a new source, still last seen on day 0: a new version.
    await store.upsert([{ ...a, sources: ['misp'] }]);
    expect(await version(0)).toBeGreaterThan(mark);
    expect(await version(DAY)).toBe(before[1]);
    // Every version at or below a later mark: what a later archive reads holds it.
    expect(await version(0)).toBeLessThanOrEqual(BigInt(await store.versionHighWater()));
  });
});

describe('postgres version high-water mark', () => {
  let pool: pg.Pool;
  const schema = isolatedName();
  beforeAll(() => {
    pool = new pg.Pool({ connectionString: env('DATABASE_URL'), max: 4 });
  });
  afterAll(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  });

  it('waits for a transaction that drew a version and has not committed, so the mark never covers a row no reader can see yet', async () => {
    const store = new PostgresHotStore(pool, { schema });
    await store.init();
    await store.upsert([ioc({ value: 'a.example.com' })]);
    const writer = await pool.connect();
    try {
      await writer.query('BEGIN');
      const { rows } = await writer.query<{ version: string }>(
        `INSERT INTO "${schema}".iocs
           (type, value, threat_type, confidence, sources, first_seen, last_seen, tags)
         VALUES ('domain', 'open.example.com', 'c2', 0.5, '{otx}', now(), now(), '{}')
         RETURNING version`,
      );
      const drawn = BigInt(rows[0]!.version);
      // Held open: the mark cannot be taken.
      await expect(store.versionHighWater({ timeoutMs: 300 })).rejects.toMatchObject({
        code: 'hot_store_writers_busy',
      });
      const marked = store.versionHighWater({ timeoutMs: 30_000 });
      let settled = false;
      void marked.finally(() => {
        settled = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(settled).toBe(false);
      await writer.query('COMMIT');
      // Taken once the writer is done; it covers the committed version.
      expect(BigInt(await marked)).toBeGreaterThanOrEqual(drawn);
    } finally {
      writer.release();
    }
  });
});
