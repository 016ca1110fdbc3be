// Both hot-store backends against the real local servers, with the same expectations:
// whatever the order, splitting, replays or concurrency, the stored rows are mergeIoc's
// fold of everything upserted. Each test has its own PostgreSQL schema or ClickHouse
// database, dropped afterwards.
import { randomBytes } from 'node:crypto';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HotBackendName } from '../../src/config.js';
import { mergeIoc, type StoredIoc } from '../../src/domain/ioc.js';
import { PermanentError, TransientError } from '../../src/errors/index.js';
import { ClickHouseHotStore } from '../../src/stores/clickhouse/clickhouse-hot-store.js';
import { createHotBackend } from '../../src/stores/hot/create-hot-backend.js';
import type { HotStore } from '../../src/stores/hot/hot-store.js';
import { clickHouseLiteral } from '../../src/stores/clickhouse/clickhouse-sql.js';
import { PostgresHotStore } from '../../src/stores/postgres/postgres-hot-store.js';
import {
  BASE_TIME,
  dumpAll,
  mergeByKey,
  randomStoredIoc,
  seededRandom,
  shuffle,
  sortByKey,
} from '../helpers/hot-store.js';

function env(key: string): string {
  const value = process.env[key];
  if (!value) throw new Error(`${key} is not set (is the globalSetup configured?)`);
  return value;
}

const HOUR = 3_600_000;
const at = (offsetMs: number) => new Date(BASE_TIME + offsetMs);

/** A backend under test: opens isolated stores, and one pointed at a closed port. */
interface Backend {
  name: HotBackendName;
  setup(): void;
  teardown(): Promise<void>;
  /** A store on a schema/database of its own (or a shared one, by name), not initialized. */
  create(name: string): HotStore;
  /** A new store in its own schema/database, initialized; dropped by dropAll(). */
  open(): Promise<HotStore>;
  dropAll(): Promise<void>;
  unreachable(): { store: HotStore; close: () => Promise<void> };
}

const isolatedName = () => `t_${randomBytes(6).toString('hex')}`;

function postgresBackend(): Backend {
  let pool: pg.Pool;
  const schemas: string[] = [];
  return {
    name: 'postgres',
    setup() {
      pool = new pg.Pool({ connectionString: env('DATABASE_URL'), max: 12 });
    },
    async teardown() {
      await pool.end();
    },
    create(schema) {
      if (!schemas.includes(schema)) schemas.push(schema);
      return new PostgresHotStore(pool, { schema });
    },
    async open() {
      const store = this.create(isolatedName());
      await store.init();
      return store;
    },
    async dropAll() {
      for (const schema of schemas.splice(0)) {
        await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      }
    },
    unreachable() {
      const closed = new pg.Pool({
        connectionString: 'postgres://postgres@127.0.0.1:1/stowage',
        connectionTimeoutMillis: 2_000,
      });
      return {
        store: new PostgresHotStore(closed, { schema: 'nowhere' }),
        close: () => closed.end(),
      };
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
    async teardown() {
      await client.close();
    },
    create(database) {
      if (!databases.includes(database)) databases.push(database);
      return new ClickHouseHotStore(client, { database });
    },
    async open() {
      const store = this.create(isolatedName());
      await store.init();
      return store;
    },
    async dropAll() {
      for (const database of databases.splice(0)) {
        await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
      }
    },
    unreachable() {
      // The client logs failed requests itself; a refused connection is expected here.
      const closed = createClient({
        url: 'http://127.0.0.1:1',
        request_timeout: 2_000,
        log: { level: ClickHouseLogLevel.OFF },
      });
      return {
        store: new ClickHouseHotStore(closed, { database: 'nowhere' }),
        close: () => closed.close(),
      };
    },
  };
}

/** A record with the given fields over sensible defaults. */
function ioc(fields: Partial<StoredIoc> & Pick<StoredIoc, 'value'>): StoredIoc {
  return {
    type: 'domain',
    threat_type: 'malware',
    confidence: 0.5,
    sources: ['feed-a'],
    first_seen: at(-HOUR),
    last_seen: at(0),
    tags: [],
    ...fields,
  };
}

describe.each([postgresBackend(), clickHouseBackend()])('$name hot store', (backend) => {
  beforeAll(() => backend.setup());
  afterAll(() => backend.teardown());
  afterEach(() => backend.dropAll());

  it('returns the merged record after two upserts of one indicator, and undefined for others', async () => {
    const store = await backend.open();
    const older = ioc({
      value: 'evil.example.com',
      threat_type: 'phishing',
      confidence: 0.9,
      sources: ['feed-a'],
      first_seen: at(-10 * HOUR),
      last_seen: at(-HOUR),
      tags: ['apt', 'tor'],
    });
    const newer = ioc({
      value: 'evil.example.com',
      threat_type: 'c2',
      confidence: 0.4,
      sources: ['abuse-ch', 'feed-a'],
      first_seen: at(-2 * HOUR),
      last_seen: at(5),
      tags: ['botnet'],
    });

    expect(await store.upsert([older])).toMatchObject({ written: 1 });
    const second = await store.upsert([newer]);
    expect(second.written).toBe(1);

    expect(await store.get('domain', 'evil.example.com')).toEqual({
      type: 'domain',
      value: 'evil.example.com',
      threat_type: 'c2',
      confidence: 0.4,
      sources: ['abuse-ch', 'feed-a'],
      first_seen: at(-10 * HOUR),
      last_seen: at(5),
      tags: ['apt', 'botnet', 'tor'],
    });
    expect(await store.get('domain', 'absent.example.com')).toBeUndefined();
    expect(await store.get('ipv4', 'evil.example.com')).toBeUndefined();
    expect(await store.count()).toBe(1);

    // PostgreSQL reports the rows an upsert changed, as stored (the cache sync then skips a
    // read); a replay that changes nothing reports none.
    expect(second.changed !== undefined).toBe(backend.name === 'postgres');
    if (second.changed) {
      expect(second.changed).toEqual([await store.get('domain', 'evil.example.com')]);
      expect((await store.upsert([newer])).changed).toEqual([]);
    }
  });

  it('breaks a last_seen tie by confidence, then by threat type, whichever arrives first', async () => {
    const store = await backend.open();
    // Same last_seen throughout; each pair is written in both orders (two keys per rule).
    const pairs = [
      {
        rule: 'confidence',
        winner: { confidence: 0.8, threat_type: 'aaa' },
        loser: { confidence: 0.6, threat_type: 'zzz' },
      },
      {
        rule: 'threat type',
        winner: { confidence: 0.6, threat_type: 'zzz' },
        loser: { confidence: 0.6, threat_type: 'aaa' },
      },
    ];
    for (const [i, pair] of pairs.entries()) {
      for (const order of ['winner-first', 'loser-first']) {
        const value = `tie-${i}-${order}.example.com`;
        const winner = ioc({ value, ...pair.winner, sources: ['feed-a'] });
        const loser = ioc({ value, ...pair.loser, sources: ['feed-b'] });
        const [first, second] = order === 'winner-first' ? [winner, loser] : [loser, winner];
        await store.upsert([first]);
        await store.upsert([second]);

        const stored = await store.get('domain', value);
        expect(stored, `${pair.rule}, ${order}`).toEqual(mergeIoc(winner, loser));
        expect(stored, `${pair.rule}, ${order}`).toMatchObject({
          ...pair.winner,
          sources: ['feed-a', 'feed-b'],
        });
      }
    }
  });

  it('a replayed batch leaves the rows and the count unchanged', async () => {
    const store = await backend.open();
    const random = seededRandom(1);
    const batch = mergeByKey(Array.from({ length: 200 }, () => randomStoredIoc(random, 60)));

    await store.upsert(batch);
    const before = await dumpAll(store);
    const countBefore = await store.count();
    await store.upsert(batch);
    await store.upsert(batch);

    expect(await dumpAll(store)).toEqual(before);
    expect(await store.count()).toBe(countBefore);
    expect(before).toEqual(batch);
  });

  it('pieces, another order or a second run give the same rows as one clean run', async () => {
    const random = seededRandom(2);
    const records = Array.from({ length: 400 }, () => randomStoredIoc(random, 40));
    const expected = mergeByKey(records);

    const clean = await backend.open();
    await clean.upsert(expected);

    const messy = await backend.open();
    const shuffled = shuffle(random, records);
    const pieces: StoredIoc[][] = [];
    for (let i = 0; i < shuffled.length;) {
      const size = 1 + Math.floor(random() * 50);
      pieces.push(mergeByKey(shuffled.slice(i, i + size)));
      i += size;
    }
    for (const piece of pieces) await messy.upsert(piece);
    // A worker killed mid-run retries: some pieces land twice, in another order.
    for (const piece of shuffle(random, pieces).slice(0, pieces.length / 2)) {
      await messy.upsert(piece);
    }
    for (const piece of [...pieces].reverse()) await messy.upsert(piece);

    const cleanRows = await dumpAll(clean);
    expect(cleanRows).toEqual(expected);
    expect(await dumpAll(messy)).toEqual(cleanRows);
    expect(await messy.count()).toBe(expected.length);
  });

  it('concurrent upserts of overlapping batches end equal to the sequential merge', async () => {
    const store = await backend.open();
    const random = seededRandom(3);
    const records = Array.from({ length: 1_200 }, () => randomStoredIoc(random, 80));
    // Eight batches that share most keys, each merged per key as the caller does, in
    // different orders (writers locking rows in opposite orders is how deadlocks start).
    const batches = Array.from({ length: 8 }, (_, i) =>
      shuffle(random, mergeByKey(records.slice(i * 150, i * 150 + 300))),
    );

    await Promise.all([...batches, ...batches.slice(0, 4)].map((batch) => store.upsert(batch)));

    const expected = mergeByKey(records);
    expect(await dumpAll(store)).toEqual(expected);
    expect(await store.count()).toBe(expected.length);
  });

  it('stores and returns verbatim strings made to break SQL quoting', async () => {
    const store = await backend.open();
    // Through the store directly: the domain schema would refuse these as slugs and
    // indicator values, but the store must never depend on that. (No NUL: PostgreSQL
    // text cannot hold one; see the rejection test below.)
    const nasty = [
      "a'b",
      "\\'; DROP TABLE iocs; --",
      "'); DROP DATABASE default; --",
      'back\\slash\\\\ and trailing\\',
      '"double" `back` $1 $$ %s ? :name',
      'line\nbreak\ttab\rreturn',
      'ünïcödé 日本語 😀 \u2028',
      "x\\'y\\\\'z",
    ];
    const records = nasty.map((s, i) =>
      ioc({
        type: 'url',
        value: `http://example.com/${i}/${s}`,
        threat_type: s,
        sources: [s, `${s}-2`],
        tags: [s],
        last_seen: at(i * 1000),
      }),
    );
    const expected = mergeByKey(records);

    expect(await store.upsert(records)).toMatchObject({ written: records.length });
    await store.upsert(records);

    for (const record of expected) {
      expect(await store.get(record.type, record.value)).toEqual(record);
    }
    expect(sortByKey(await store.getMany(records))).toEqual(expected);
    expect(await dumpAll(store)).toEqual(expected);
    expect(await store.count()).toBe(records.length);
    expect(await store.get('url', "' OR 1=1 --")).toBeUndefined();
  });

  it('findHot keeps confident, recent indicators, newest first, at most limit', async () => {
    const store = await backend.open();
    const since = at(-24 * HOUR);
    const records = [
      ioc({ value: 'hot-1.example.com', confidence: 0.9, last_seen: at(-1 * HOUR) }),
      ioc({ value: 'hot-2.example.com', confidence: 0.7, last_seen: at(-2 * HOUR) }),
      ioc({ value: 'hot-3.example.com', confidence: 1, last_seen: at(-3 * HOUR) }),
      // Exactly at the thresholds: included.
      ioc({ value: 'edge.example.com', confidence: 0.7, last_seen: since }),
      ioc({ value: 'cold-confidence.example.com', confidence: 0.69, last_seen: at(0) }),
      ioc({
        value: 'cold-old.example.com',
        confidence: 0.95,
        first_seen: at(-100 * HOUR),
        last_seen: at(-25 * HOUR),
      }),
      // Was hot, but the latest sighting lowered the confidence: not hot any more.
      ioc({ value: 'cooled.example.com', confidence: 0.9, last_seen: at(-5 * HOUR) }),
      ioc({ value: 'cooled.example.com', confidence: 0.2, last_seen: at(-4 * HOUR) }),
      // Hot now, with an old sighting whose first_seen, tags and sources must still count.
      ioc({
        value: 'warmed.example.com',
        confidence: 0.1,
        first_seen: at(-200 * HOUR),
        last_seen: at(-150 * HOUR),
        sources: ['otx'],
        tags: ['apt'],
      }),
      ioc({ value: 'warmed.example.com', confidence: 0.8, last_seen: at(-30 * 60_000) }),
    ];
    for (const record of records) await store.upsert([record]);
    const merged = mergeByKey(records);
    const hot = (minConfidence: number, limit: number) =>
      merged
        .filter((r) => r.confidence >= minConfidence && r.last_seen >= since)
        .sort((a, b) => b.last_seen.getTime() - a.last_seen.getTime())
        .slice(0, limit);

    const all = await store.findHot({ minConfidence: 0.7, since, limit: 100 });
    expect(all.map((r) => r.value)).toEqual([
      'warmed.example.com',
      'hot-1.example.com',
      'hot-2.example.com',
      'hot-3.example.com',
      'edge.example.com',
    ]);
    expect(all).toEqual(hot(0.7, 100));
    expect(all[0]).toMatchObject({
      first_seen: at(-200 * HOUR),
      sources: ['feed-a', 'otx'],
      tags: ['apt'],
    });
    expect(await store.findHot({ minConfidence: 0.7, since, limit: 2 })).toEqual(hot(0.7, 2));
    expect(await store.findHot({ minConfidence: 0.95, since, limit: 100 })).toEqual(hot(0.95, 100));
    expect(await store.findHot({ minConfidence: 0.7, since, limit: 0 })).toEqual([]);
  });

  it('getMany returns the stored keys among those asked, in one call', async () => {
    const store = await backend.open();
    const random = seededRandom(4);
    const stored = mergeByKey(Array.from({ length: 300 }, () => randomStoredIoc(random, 50)));
    await store.upsert(stored);

    const asked = [
      ...stored.slice(0, 20),
      ioc({ value: 'never-stored.example.com' }),
      ioc({ type: 'ipv4', value: stored[0]!.value }),
    ];
    expect(sortByKey(await store.getMany(asked))).toEqual(stored.slice(0, 20));
    expect(await store.getMany([])).toEqual([]);
  });

  it('upserts 20,000 indicators in one call', async () => {
    const store = await backend.open();
    const batch = Array.from({ length: 20_000 }, (_, i) =>
      ioc({
        type: 'ipv4',
        value: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`,
        confidence: (i % 100) / 100,
        last_seen: at(i),
        tags: i % 3 === 0 ? ['botnet'] : [],
      }),
    );

    const started = performance.now();
    expect(await store.upsert(batch)).toMatchObject({ written: 20_000 });
    const ms = performance.now() - started;
    expect(ms).toBeLessThan(30_000);

    expect(await store.count()).toBe(20_000);
    const probe = batch[12_345]!;
    expect(await store.get('ipv4', probe.value)).toEqual(probe);
    const sample = batch.filter((_, i) => i % 4 === 0);
    expect(sortByKey(await store.getMany(sample))).toEqual(sortByKey(sample));
    await store.upsert(batch);
    expect(await store.count()).toBe(20_000);
  });

  it('init is safe to run concurrently from several stores, and again', async () => {
    const name = isolatedName();
    // As several processes starting at once against a schema/database nobody created yet.
    const stores = Array.from({ length: 6 }, () => backend.create(name));
    await Promise.all(stores.map((store) => store.init()));
    await stores[0]!.upsert([ioc({ value: 'after-init.example.com' })]);
    await Promise.all(stores.map((store) => store.init()));
    expect(await stores[5]!.count()).toBe(1);
  });

  it('reports an unreachable server as a transient backend_unavailable error', async () => {
    const { store, close } = backend.unreachable();
    try {
      const error: unknown = await store.count().catch((err: unknown) => err);
      expect(error).toBeInstanceOf(TransientError);
      expect(error).toMatchObject({
        code: 'backend_unavailable',
        context: { backend: backend.name },
      });
    } finally {
      await close();
    }
  });

  it('createHotBackend builds this backend (store and retention) and touches only its client', async () => {
    const pool = new pg.Pool({ connectionString: env('DATABASE_URL') });
    const client = createClient({ url: env('CLICKHOUSE_URL') });
    try {
      const { store, retention } = createHotBackend(
        { HOT_STORE: backend.name, DATABASE_SCHEMA: 'stowage', CLICKHOUSE_DATABASE: 'stowage' },
        {
          get pg() {
            if (backend.name !== 'postgres') throw new Error('pg touched');
            return pool;
          },
          get clickhouse() {
            if (backend.name !== 'clickhouse') throw new Error('clickhouse touched');
            return client;
          },
        },
      );
      expect(store.backend).toBe(backend.name);
      expect(store).toBeInstanceOf(
        backend.name === 'postgres' ? PostgresHotStore : ClickHouseHotStore,
      );
      expect(retention.backend).toBe(backend.name);
    } finally {
      await pool.end();
      await client.close();
    }
  });
});

describe('hot store errors', () => {
  it('PostgreSQL refuses a NUL byte as a permanent error', async () => {
    const pool = new pg.Pool({ connectionString: env('DATABASE_URL'), max: 2 });
    const schema = isolatedName();
    try {
      const store = new PostgresHotStore(pool, { schema });
      await store.init();
      const error: unknown = await store
        .upsert([ioc({ value: 'nul\u0000.example.com' })])
        .catch((err: unknown) => err);
      expect(error).toBeInstanceOf(PermanentError);
      expect(error).toMatchObject({ code: 'backend_rejected', context: { backend: 'postgres' } });
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    }
  });

  it('ClickHouse stores a NUL byte verbatim', async () => {
    const client = createClient({ url: env('CLICKHOUSE_URL') });
    const database = isolatedName();
    try {
      const store = new ClickHouseHotStore(client, { database });
      await store.init();
      const record = ioc({ value: "nul\u0000'.example.com", threat_type: '\u0000' });
      await store.upsert([record]);
      expect(await store.get('domain', record.value)).toEqual(record);
    } finally {
      await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
      await client.close();
    }
  });

  it('ClickHouse reports a missing table as permanent schema_not_ready (run stowage init)', async () => {
    const client = createClient({
      url: env('CLICKHOUSE_URL'),
      log: { level: ClickHouseLogLevel.OFF },
    });
    try {
      // Never initialized: the database does not exist.
      const store = new ClickHouseHotStore(client, { database: isolatedName() });
      const error: unknown = await store.count().catch((err: unknown) => err);
      expect(error).toBeInstanceOf(PermanentError);
      expect(error).toMatchObject({ code: 'schema_not_ready', context: { backend: 'clickhouse' } });
    } finally {
      await client.close();
    }
  });
});

describe('ClickHouse literals on the real server', () => {
  it('every string, number and date clickHouseLiteral writes reads back as the same value', async () => {
    const client = createClient({ url: env('CLICKHOUSE_URL') });
    try {
      const everyAscii = Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)).join('');
      const strings = [
        everyAscii,
        "\\' OR 1=1 --",
        "'; SELECT 1; --",
        'trailing\\',
        'ünïcödé 日本語 😀',
        '',
      ];
      const query = `SELECT ${strings
        .map((s, i) => `${clickHouseLiteral(s)} AS s${i}`)
        .join(', ')}, ${clickHouseLiteral(-0.25)} AS n, 1-${clickHouseLiteral(-5)} AS m,
        toUInt32(${clickHouseLiteral(new Date('2024-01-02T03:04:05Z'))}) AS d,
        ${clickHouseLiteral(["a'b", 'c\\'])} AS arr`;
      const result = await client.query({ query, format: 'JSONEachRow' });
      const [row] = await result.json<Record<string, unknown>>();
      expect(row).toEqual({
        ...Object.fromEntries(strings.map((s, i) => [`s${i}`, s])),
        n: -0.25,
        m: 6,
        d: 1704164645,
        arr: ["a'b", 'c\\'],
      });
    } finally {
      await client.close();
    }
  });
});

describe('hot store tables of an older Stowage', () => {
  it('PostgreSQL: init adds row versions; old rows are at version 0, below any mark an archive takes', async () => {
    const pool = new pg.Pool({ connectionString: env('DATABASE_URL'), max: 2 });
    const schema = isolatedName();
    try {
      // The table as the previous release created it, with one row.
      await pool.query(`CREATE SCHEMA "${schema}"`);
      await pool.query(`CREATE TABLE "${schema}".iocs (
        type text COLLATE "C" NOT NULL, value text COLLATE "C" NOT NULL,
        threat_type text COLLATE "C" NOT NULL, confidence double precision NOT NULL,
        sources text[] COLLATE "C" NOT NULL, first_seen timestamptz NOT NULL,
        last_seen timestamptz NOT NULL, tags text[] COLLATE "C" NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (type, value))`);
      await pool.query(`INSERT INTO "${schema}".iocs VALUES
        ('domain', 'old.example.com', 'c2', 0.5, '{otx}', now(), now(), '{}', now())`);
      const store = new PostgresHotStore(pool, { schema });
      await store.init();
      await store.init();
      await store.upsert([ioc({ value: 'new.example.com' })]);
      const { rows } = await pool.query<{ value: string; version: string }>(
        `SELECT value, version FROM "${schema}".iocs ORDER BY value`,
      );
      expect(rows.map((r) => [r.value, BigInt(r.version) > 0n])).toEqual([
        ['new.example.com', true],
        ['old.example.com', false],
      ]);
      expect(await store.get('domain', 'old.example.com')).toBeDefined();
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    }
  });

  it('ClickHouse: init adds inserted_at and stores it for the old sightings, so they do not read as new on every query', async () => {
    const client = createClient({ url: env('CLICKHOUSE_URL'), request_timeout: 60_000 });
    const database = isolatedName();
    try {
      await client.command({ query: `CREATE DATABASE ${database}` });
      await client.command({
        query: `CREATE TABLE ${database}.ioc_sightings (
          type String, value String, threat_type String, confidence Float64,
          sources Array(String), tags Array(String), first_seen_ms Int64, last_seen_ms Int64,
          sighting_id String)
          ENGINE = ReplacingMergeTree ORDER BY (type, value, sighting_id)`,
      });
      await client.command({
        query: `INSERT INTO ${database}.ioc_sightings VALUES
          ('domain', 'old.example.com', 'c2', 0.5, ['otx'], [], 0, 1000, 'x')`,
      });
      const store = new ClickHouseHotStore(client, { database });
      await store.init();
      await store.init();
      const stamp = async () => {
        const result = await client.query({
          query: `SELECT toUInt32(inserted_at) AS s FROM ${database}.ioc_sightings`,
          format: 'JSONEachRow',
        });
        return (await result.json<{ s: number }>())[0]?.s;
      };
      const first = await stamp();
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      expect(await stamp()).toBe(first);
      expect(await store.get('domain', 'old.example.com')).toBeDefined();
    } finally {
      await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
      await client.close();
    }
  });
});
