// IOC search, statistics, delete, STIX export and pool statistics through the api, against
// both hot stores: every filter returns exactly the merged indicators that match it, once,
// in key order, however the walk is paged and whatever is merged between two pages.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cidrContains, parseCidr } from '../../src/domain/cidr.js';
import { iocKey, mergeIoc, type IocType, type StoredIoc } from '../../src/domain/ioc.js';
import { mispAttribute, type MispAttribute } from '../../src/domain/misp.js';
import { stixIndicator } from '../../src/domain/stix.js';
import { BASE_TIME, pick, seededRandom, sortByKey, subset } from '../helpers/hot-store.js';
import { StowageClient } from '../../src/sdk/index.js';
import { StowageWorld, TEST_KEYS } from '../helpers/world.js';

const HOUR = 3_600_000;

/** A value of each type for key number n (some ipv4 inside 10.1.0.0/16, some outside). */
function valueOf(type: IocType, n: number): string {
  switch (type) {
    case 'ipv4':
      return n % 3 === 0 ? `10.1.${n % 7}.${n}` : `192.0.2.${n}`;
    case 'ipv6':
      return n % 3 === 0 ? `2001:db8::${n.toString(16)}` : `2001:db9::${n.toString(16)}`;
    case 'domain':
      return `host${n}.example.com`;
    case 'url':
      return `http://x${n}.example/p?q='${n}'`;
    case 'email':
      return `o'user${n}@example.org`;
    case 'md5':
      return n.toString(16).padStart(32, '0');
    case 'sha1':
      return n.toString(16).padStart(40, 'a');
    case 'sha256':
      return n.toString(16).padStart(64, 'b');
  }
}

const TYPES: IocType[] = ['ipv4', 'ipv6', 'domain', 'url', 'email', 'md5', 'sha1', 'sha256'];

/** Sightings of `keys` indicators, 1–3 each, so merged rows differ from any one sighting. */
function sightings(random: () => number, keys: number): StoredIoc[] {
  const out: StoredIoc[] = [];
  for (let n = 0; n < keys; n++) {
    const type = TYPES[n % TYPES.length]!;
    const value = valueOf(type, n);
    const count = 1 + Math.floor(random() * 3);
    for (let i = 0; i < count; i++) {
      const lastSeen = BASE_TIME + pick(random, [0, HOUR, 5 * HOUR, 48 * HOUR, 96 * HOUR]);
      out.push({
        type,
        value,
        threat_type: pick(random, ['c2', 'malware', 'phishing', 'unknown']),
        confidence: pick(random, [0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1]),
        sources: subset(random, ['abuse-ch', 'feed-a', 'feed-b', 'otx']).sort(),
        first_seen: new Date(lastSeen - Math.floor(random() * 72 * HOUR)),
        last_seen: new Date(lastSeen),
        tags: subset(random, ['apt', 'botnet', 'ransomware', 'tor']).sort(),
      });
    }
  }
  return out;
}

/** The merged row per key, as the store must hold it. */
function merged(rows: readonly StoredIoc[]): Map<string, StoredIoc> {
  const byKey = new Map<string, StoredIoc>();
  for (const row of rows) {
    const existing = byKey.get(iocKey(row));
    byKey.set(iocKey(row), existing ? mergeIoc(existing, row) : row);
  }
  return byKey;
}

/** The api's query semantics in plain code. */
function matches(ioc: StoredIoc, q: Record<string, string>): boolean {
  if (q.type !== undefined && ioc.type !== q.type) return false;
  if (q.threat_type !== undefined && ioc.threat_type !== q.threat_type) return false;
  if (q.min_confidence !== undefined && ioc.confidence < Number(q.min_confidence)) return false;
  if (q.max_confidence !== undefined && ioc.confidence > Number(q.max_confidence)) return false;
  if (q.source !== undefined && !ioc.sources.includes(q.source)) return false;
  if (q.tag !== undefined && !ioc.tags.includes(q.tag)) return false;
  if (q.cidr !== undefined) {
    if (ioc.type !== 'ipv4' && ioc.type !== 'ipv6') return false;
    if (!cidrContains(parseCidr(q.cidr)!, ioc.value)) return false;
  }
  if (q.seen_since !== undefined && ioc.last_seen < new Date(q.seen_since)) return false;
  if (q.seen_until !== undefined && ioc.last_seen >= new Date(q.seen_until)) return false;
  return true;
}

const iso = (ms: number) => new Date(ms).toISOString();

const FILTERS: Record<string, string>[] = [
  {},
  { type: 'ipv4' },
  { threat_type: 'c2', min_confidence: '0.8' },
  { min_confidence: '0.5', max_confidence: '0.9' },
  { tag: 'apt' },
  { source: 'otx', tag: 'tor' },
  { threat_type: 'phishing', tag: 'botnet' },
  { cidr: '10.1.0.0/16' },
  { cidr: '2001:db8::/32' },
  { cidr: '10.1.0.0/16', min_confidence: '0.7' },
  { seen_since: iso(BASE_TIME + 5 * HOUR) },
  { seen_until: iso(BASE_TIME + HOUR) },
  { seen_since: iso(BASE_TIME + HOUR), seen_until: iso(BASE_TIME + 48 * HOUR), type: 'url' },
  { threat_type: 'malware', source: 'feed-a', min_confidence: '0.3' },
];

interface Page {
  items: (Omit<StoredIoc, 'first_seen' | 'last_seen'> & {
    first_seen: string;
    last_seen: string;
  })[];
  next_cursor: string | null;
  count?: number;
  count_capped?: boolean;
}

const view = (ioc: StoredIoc) => ({
  ...ioc,
  first_seen: ioc.first_seen.toISOString(),
  last_seen: ioc.last_seen.toISOString(),
});

describe.each(['postgres', 'clickhouse'] as const)('IOC search on %s', (hotStore) => {
  let world: StowageWorld;
  let base: string;
  let expected: Map<string, StoredIoc>;

  const call = (path: string, key: string = TEST_KEYS.read, init: RequestInit = {}) =>
    fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${key}` } });

  async function page(query: Record<string, string>): Promise<Page> {
    const res = await call(`/v1/iocs?${new URLSearchParams(query).toString()}`);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as Page;
  }

  /** Every page of a query, limit per page; asserts each page's size bound. */
  async function walk(query: Record<string, string>, limit: number): Promise<Page['items']> {
    const items: Page['items'] = [];
    let cursor: string | null = null;
    for (let guard = 0; guard < 1_000; guard++) {
      const p = await page({ ...query, limit: String(limit), ...(cursor ? { cursor } : {}) });
      expect(p.items.length).toBeLessThanOrEqual(limit);
      items.push(...p.items);
      cursor = p.next_cursor;
      if (cursor === null) return items;
    }
    throw new Error('walk did not end');
  }

  beforeAll(async () => {
    world = new StowageWorld({ HOT_STORE: hotStore, DATABASE_POOL_MAX: '7' });
    await world.initStores();
    base = await world.startApi();
    const rows = sightings(seededRandom(15), 240);
    // Several upserts, so that ClickHouse holds several sightings per indicator.
    for (let i = 0; i < rows.length; i += 97)
      await world.deps.hotStore.upsert(rows.slice(i, i + 97));
    expected = merged(rows);
  });
  afterAll(() => world.close());

  it('every filter returns exactly the matching merged IOCs, once each, in key order, whatever the page size', async () => {
    for (const query of FILTERS) {
      const want = sortByKey([...expected.values()].filter((ioc) => matches(ioc, query))).map(view);
      // Every filter of the table matches some but not all fixtures: each one is tested.
      expect(want.length, JSON.stringify(query)).toBeGreaterThan(0);
      if (Object.keys(query).length > 0) expect(want.length).toBeLessThan(expected.size);
      for (const limit of [7, 1000]) {
        expect(await walk(query, limit), `${JSON.stringify(query)} limit ${limit}`).toEqual(want);
      }
      const first = await page({ ...query, limit: '5', count: 'true' });
      expect(first.count, JSON.stringify(query)).toBe(want.length);
      expect(first.count_capped).toBe(false);
    }
  });

  it('a walk stays exact while indicators are merged and added between its pages', async () => {
    const query = { min_confidence: '0.5' };
    const seen = new Set<string>();
    const stillMatching = () =>
      sortByKey([...expected.values()].filter((ioc) => matches(ioc, query))).map(iocKey);
    const before = new Set(stillMatching());
    let cursor: string | null = null;
    const random = seededRandom(99);
    let round = 0;
    do {
      const p = await page({ ...query, limit: '9', ...(cursor ? { cursor } : {}) });
      for (const item of p.items) {
        expect(seen.has(iocKey(item)), `${iocKey(item)} twice`).toBe(false);
        seen.add(iocKey(item));
      }
      cursor = p.next_cursor;
      // Merge new sightings into random existing indicators (before and after the cursor)
      // that keep them matching, and add new ones.
      const updates = [...expected.values()]
        .filter(() => random() < 0.05)
        .map((ioc) => ({
          ...ioc,
          confidence: 0.99,
          last_seen: new Date(ioc.last_seen.getTime() + 1000),
          tags: ['updated'],
          sources: [`round-${round}`],
        }));
      const added = sightings(random, 3).map((s) => ({ ...s, value: `${s.value}.r${round}` }));
      const fresh = added.filter((s) => s.type === 'domain' || s.type === 'url');
      await world.deps.hotStore.upsert([...updates, ...fresh]);
      for (const u of [...updates, ...fresh]) {
        const existing = expected.get(iocKey(u));
        expected.set(iocKey(u), existing ? mergeIoc(existing, u) : u);
      }
      round++;
    } while (cursor !== null);
    // Every indicator that matched before the walk and still does was returned.
    const after = new Set(stillMatching());
    for (const key of before) if (after.has(key)) expect(seen.has(key), key).toBe(true);
  });

  it('refuses bad parameters with a 400 naming each field', async () => {
    const cases: [string, string][] = [
      ['limit=0', 'limit'],
      ['limit=1001', 'limit'],
      ['limit=ten', 'limit'],
      ['min_confidence=abc', 'min_confidence'],
      ['min_confidence=', 'min_confidence'],
      ['max_confidence=1.5', 'max_confidence'],
      ['min_confidence=0.9&max_confidence=0.1', 'max_confidence'],
      ['type=hash', 'type'],
      ['cidr=10.0.0.0/33', 'cidr'],
      ['cidr=evil.com', 'cidr'],
      ['seen_since=yesterday', 'seen_since'],
      ['cursor=bogus', 'cursor'],
      ['count=yes', 'count'],
      ['colour=red', 'colour'],
    ];
    for (const [qs, field] of cases) {
      const res = await call(`/v1/iocs?${qs}`);
      expect(res.status, qs).toBe(400);
      const body = (await res.json()) as { errors?: { path: string }[] };
      expect(
        body.errors?.map((e) => e.path),
        qs,
      ).toContain(field);
    }
    expect((await call('/v1/export/stix?cidr=x')).status).toBe(400);
  });

  it('counts per type, threat type and confidence bucket', async () => {
    const res = await call('/v1/iocs/stats');
    expect(res.status).toBe(200);
    const stats = (await res.json()) as {
      total: number;
      by_type: Record<string, number>;
      by_threat_type: Record<string, number>;
      by_confidence: { from: number; to: number; count: number }[];
    };
    const all = [...expected.values()];
    expect(stats.total).toBe(all.length);
    const tally = (f: (i: StoredIoc) => string) =>
      all.reduce<Record<string, number>>(
        (acc, i) => ({ ...acc, [f(i)]: (acc[f(i)] ?? 0) + 1 }),
        {},
      );
    expect(stats.by_type).toEqual(tally((i) => i.type));
    expect(stats.by_threat_type).toEqual(tally((i) => i.threat_type));
    const buckets = Array<number>(10).fill(0);
    for (const i of all) buckets[Math.min(9, Math.floor(i.confidence * 10))]! += 1;
    expect(stats.by_confidence.map((b) => b.count)).toEqual(buckets);
  });

  it('streams a STIX 2.1 bundle holding every matching IOC once, continued past its limit', async () => {
    const query = { min_confidence: '0.3' };
    const want = sortByKey([...expected.values()].filter((ioc) => matches(ioc, query)));
    const res = await call(`/v1/export/stix?${new URLSearchParams(query).toString()}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/stix\+json/);
    const bundle = (await res.json()) as {
      type: string;
      id: string;
      objects: ReturnType<typeof stixIndicator>[];
      x_stowage_next_cursor?: string;
    };
    expect(bundle.type).toBe('bundle');
    expect(bundle.id).toMatch(/^bundle--[0-9a-f-]{36}$/);
    expect(bundle.x_stowage_next_cursor).toBeUndefined();
    expect(bundle.objects).toEqual(want.map(stixIndicator));
    expect(new Set(bundle.objects.map((o) => o.id)).size).toBe(want.length);

    // Cut at 10: the cursor continues the export, and the parts add up to the whole.
    const parts: string[] = [];
    let cursor: string | undefined;
    do {
      const qs = new URLSearchParams({ ...query, limit: '10', ...(cursor ? { cursor } : {}) });
      const part = (await (await call(`/v1/export/stix?${qs.toString()}`)).json()) as typeof bundle;
      expect(part.objects.length).toBeLessThanOrEqual(10);
      parts.push(...part.objects.map((o) => o.id));
      cursor = part.x_stowage_next_cursor;
    } while (cursor !== undefined);
    expect(parts).toEqual(bundle.objects.map((o) => o.id));
  });

  it('streams one MISP event with an attribute per matching IOC, continued past its limit', async () => {
    const query = { type: 'ipv4' };
    const want = sortByKey([...expected.values()].filter((ioc) => matches(ioc, query)));
    const res = await call(`/v1/export/misp?${new URLSearchParams(query).toString()}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const doc = (await res.json()) as {
      Event: { uuid: string; info: string; date: string; Attribute: MispAttribute[] };
      x_stowage_next_cursor?: string;
    };
    expect(doc.Event.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(doc.Event.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(doc.x_stowage_next_cursor).toBeUndefined();
    expect(doc.Event.Attribute).toEqual(want.map(mispAttribute));
    expect(doc.Event.Attribute.every((a) => a.type === 'ip-dst')).toBe(true);

    const parts: string[] = [];
    let cursor: string | undefined;
    do {
      const qs = new URLSearchParams({ ...query, limit: '7', ...(cursor ? { cursor } : {}) });
      const part = (await (await call(`/v1/export/misp?${qs.toString()}`)).json()) as typeof doc;
      expect(part.Event.Attribute.length).toBeLessThanOrEqual(7);
      parts.push(...part.Event.Attribute.map((a) => a.value));
      cursor = part.x_stowage_next_cursor;
    } while (cursor !== undefined);
    expect(parts).toEqual(want.map((i) => i.value));
    expect((await call('/v1/export/misp?min_confidence=2')).status).toBe(400);
  });

  it('deletes an IOC from the store and the cache (admin only), then answers 404', async () => {
    const victim = [...expected.values()].find((i) => i.type === 'email')!;
    const path = `/v1/iocs/email/${encodeURIComponent(victim.value)}`;
    await world.deps.iocCache.putMany([victim]);
    expect((await call(path, TEST_KEYS.read, { method: 'DELETE' })).status).toBe(403);
    expect((await call(path, TEST_KEYS.ingest, { method: 'DELETE' })).status).toBe(403);
    const res = await call(path, TEST_KEYS.admin, { method: 'DELETE' });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toEqual({
      type: 'email',
      value: victim.value,
      deleted: true,
      uncached: true,
    });
    expected.delete(iocKey(victim));
    expect(await world.deps.hotStore.get('email', victim.value)).toBeUndefined();
    expect(await world.deps.iocCache.lookup('email', victim.value)).toBeUndefined();
    expect((await call(path)).status).toBe(404);
    expect((await call(path, TEST_KEYS.admin, { method: 'DELETE' })).status).toBe(404);
    expect((await call('/v1/iocs/nope/x', TEST_KEYS.admin, { method: 'DELETE' })).status).toBe(400);
    const all = await walk({ type: 'email' }, 1000);
    expect(all.map(iocKey)).not.toContain(iocKey(victim));
  });

  it('reports the PostgreSQL pool: its configured size and its use', async () => {
    const res = await call('/v1/stats/pools');
    expect(res.status).toBe(200);
    const { postgres } = (await res.json()) as {
      postgres: { max: number; total: number; idle: number; in_use: number; waiting: number };
    };
    expect(postgres.max).toBe(7);
    expect(postgres.total).toBeLessThanOrEqual(7);
    expect(postgres.in_use + postgres.idle).toBe(postgres.total);
    expect(postgres.waiting).toBeGreaterThanOrEqual(0);
  });

  it('the SDK walks, counts, exports and deletes as the api does', async () => {
    const read = new StowageClient({ baseUrl: base, apiKey: TEST_KEYS.read, retry: false });
    const admin = new StowageClient({ baseUrl: base, apiKey: TEST_KEYS.admin, retry: false });
    const filter = { threat_type: 'c2', min_confidence: 0.5 };
    const want = sortByKey(
      [...expected.values()].filter((ioc) =>
        matches(ioc, { threat_type: 'c2', min_confidence: '0.5' }),
      ),
    ).map(view);
    const walked: Page['items'] = [];
    for await (const p of read.searchIocPages({ ...filter, limit: 4 })) walked.push(...p.items);
    expect(walked).toEqual(want);
    expect((await read.searchIocs({ ...filter, count: true, limit: 1 })).count).toBe(want.length);
    expect((await read.iocStats()).total).toBe(expected.size);
    expect((await read.poolStats()).postgres.max).toBe(7);
    const stream = await read.exportStix({ ...filter, seen_since: new Date(0) });
    const bundle = (await new Response(stream).json()) as { objects: { pattern: string }[] };
    expect(bundle.objects).toHaveLength(want.length);
    expect(await admin.deleteIoc('domain', 'never-stored.example.com')).toBeUndefined();
  });
});
