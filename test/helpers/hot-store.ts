// Fixtures for hot-store and IOC-merge tests: a seeded PRNG, random stored IOCs over a
// small key space (so that merges, ties and overlaps are common), the expected merge,
// and a backend-independent dump of a store.
import { iocKey, mergeIoc, type IocType, type StoredIoc } from '../../src/domain/ioc.js';
import type { HotStore } from '../../src/stores/hot/hot-store.js';

/** A tiny seeded PRNG (mulberry32): the same seed gives the same sequence, on any machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** One element of a list, chosen by the PRNG. */
export function pick<T>(random: () => number, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

/** A random subset (possibly empty) of a list, in random order. */
export function subset<T>(random: () => number, items: readonly T[]): T[] {
  return shuffle(
    random,
    items.filter(() => random() < 0.4),
  );
}

/** A shuffled copy (Fisher–Yates). */
export function shuffle<T>(random: () => number, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** A fixed instant the fixtures count from (milliseconds, not whole seconds, on purpose). */
export const BASE_TIME = Date.UTC(2031, 4, 6, 7, 8, 9, 123);
const HOUR = 3_600_000;

/**
 * A random record of one of `keys` indicators. Few distinct last_seen, confidence and
 * threat_type values, so the "latest" tie-breaks are exercised, not just the first rule.
 */
export function randomStoredIoc(random: () => number, keys = 25): StoredIoc {
  const n = Math.floor(random() * keys);
  const type: IocType = n % 2 === 0 ? 'domain' : 'ipv4';
  const value = type === 'domain' ? `host${n}.example.com` : `10.0.${n >> 8}.${n & 255}`;
  const lastSeen = BASE_TIME + pick(random, [0, 1, 7, HOUR, 5 * HOUR + 999, 48 * HOUR]);
  const firstSeen = lastSeen - Math.floor(random() * 72 * HOUR);
  return {
    type,
    value,
    threat_type: pick(random, ['c2', 'malware', 'phishing', 'unknown']),
    confidence: random() < 0.7 ? pick(random, [0, 0.3, 0.7, 0.9, 1]) : random(),
    sources: subset(random, ['abuse-ch', 'feed-a', 'feed-b', 'otx']).sort(),
    first_seen: new Date(firstSeen),
    last_seen: new Date(lastSeen),
    tags: subset(random, ['apt', 'botnet', 'ransomware', 'tor']).sort(),
  };
}

/** Collapses records to one per key with mergeIoc, as a caller does before upserting. */
export function mergeByKey(records: readonly StoredIoc[]): StoredIoc[] {
  const byKey = new Map<string, StoredIoc>();
  for (const record of records) {
    const key = iocKey(record);
    const existing = byKey.get(key);
    byKey.set(key, existing ? mergeIoc(existing, record) : record);
  }
  return sortByKey([...byKey.values()]);
}

/** Records sorted by (type, value), the order dumps are compared in. */
export function sortByKey(records: readonly StoredIoc[]): StoredIoc[] {
  return [...records].sort((a, b) => {
    const ka = iocKey(a);
    const kb = iocKey(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}

/**
 * Every indicator a store holds, sorted by key, through the public interface only (the
 * fixtures are all after 1970 with confidence >= 0, which findHot's widest query covers).
 */
export async function dumpAll(store: HotStore): Promise<StoredIoc[]> {
  const rows = await store.findHot({ minConfidence: 0, since: new Date(0), limit: 1_000_000 });
  return sortByKey(rows);
}
