import { describe, expect, it } from 'vitest';
import {
  iocSchema,
  mergeBatch,
  mergeIoc,
  normalizeIocValue,
  MAX_IOC_VALUE_LENGTH,
  type IocType,
  type StoredIoc,
} from '../../src/domain/ioc.js';
import { randomStoredIoc, seededRandom, shuffle } from '../helpers/hot-store.js';

describe('normalizeIocValue', () => {
  const cases: [IocType, string, string | undefined][] = [
    ['domain', 'example.com', 'example.com'],
    ['domain', '  Sub.Example.COM.  ', 'sub.example.com'],
    ['domain', 'xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['domain', '_dmarc.example.org', '_dmarc.example.org'],
    ['domain', 'localhost', undefined],
    ['domain', '-bad.example.com', undefined],
    ['domain', 'a..example.com', undefined],
    ['domain', '1.2.3.4', undefined],
    ['domain', 'spaces in.example.com', undefined],
    ['ipv4', '192.168.1.10', '192.168.1.10'],
    ['ipv4', ' 10.0.0.1 ', '10.0.0.1'],
    ['ipv4', '256.1.1.1', undefined],
    ['ipv4', '01.2.3.4', undefined],
    ['ipv4', '1.2.3', undefined],
    ['ipv4', '::1', undefined],
    ['ipv6', '2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['ipv6', '2001:0db8:0000:0000:0000:ff00:0042:8329', '2001:db8::ff00:42:8329'],
    ['ipv6', '::FFFF:192.0.2.1', '::ffff:c000:201'],
    ['ipv6', ' ::1 ', '::1'],
    ['ipv6', 'fe80::1%eth0', undefined],
    ['ipv6', 'gggg::1', undefined],
    ['ipv6', '1.2.3.4', undefined],
    ['url', 'HTTP://Example.COM/Path/To?Q=A#Frag', 'http://example.com/Path/To?Q=A#Frag'],
    ['url', 'https://example.com', 'https://example.com/'],
    ['url', ' ftp://files.example.org/Pub/File.TXT ', 'ftp://files.example.org/Pub/File.TXT'],
    ['url', 'javascript:alert(1)', undefined],
    ['url', 'file:///etc/passwd', undefined],
    ['url', 'not a url', undefined],
    ['md5', 'D41D8CD98F00B204E9800998ECF8427E', 'd41d8cd98f00b204e9800998ecf8427e'],
    ['md5', 'd41d8cd98f00b204e9800998ecf8427', undefined],
    ['md5', 'z41d8cd98f00b204e9800998ecf8427e', undefined],
    [
      'sha1',
      'DA39A3EE5E6B4B0D3255BFEF95601890AFD80709',
      'da39a3ee5e6b4b0d3255bfef95601890afd80709',
    ],
    ['sha1', 'd41d8cd98f00b204e9800998ecf8427e', undefined],
    [
      'sha256',
      'E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855',
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    ],
    ['sha256', 'da39a3ee5e6b4b0d3255bfef95601890afd80709', undefined],
    ['email', ' Alice.Smith+tag@Example.COM ', 'alice.smith+tag@example.com'],
    ['email', 'no-at-sign.example.com', undefined],
    ['email', '@example.com', undefined],
    ['email', 'bob@localhost', undefined],
  ];

  it.each(cases)('%s %j → %j', (type, raw, expected) => {
    expect(normalizeIocValue(type, raw)).toBe(expected);
  });

  it('refuses empty, over-long and control-character values for every type', () => {
    for (const type of [
      'domain',
      'ipv4',
      'ipv6',
      'url',
      'md5',
      'sha1',
      'sha256',
      'email',
    ] as const) {
      expect(normalizeIocValue(type, '   ')).toBeUndefined();
      expect(normalizeIocValue(type, '')).toBeUndefined();
    }
    expect(normalizeIocValue('domain', 'exa\u0000mple.com')).toBeUndefined();
    expect(normalizeIocValue('url', 'http://example.com/a\nb')).toBeUndefined();
    const long = `http://example.com/${'a'.repeat(MAX_IOC_VALUE_LENGTH)}`;
    expect(normalizeIocValue('url', long)).toBeUndefined();
  });
});

describe('iocSchema', () => {
  const valid = {
    type: 'domain',
    value: ' Evil.Example.COM ',
    confidence: 0.8,
    source: 'Feed-A',
    first_seen: '2024-01-01T00:00:00Z',
    last_seen: '2024-01-02T00:00:00.250Z',
    tags: ['Botnet', 'apt', 'botnet'],
  };

  /** The paths of the issues a payload fails with. */
  const failingPaths = (payload: unknown) => {
    const result = iocSchema.safeParse(payload);
    expect(result.success).toBe(false);
    return result.error?.issues.map((issue) => issue.path.join('.')) ?? [];
  };

  it('normalizes a valid sighting: value, slugs, sorted distinct tags, default threat type', () => {
    expect(iocSchema.parse(valid)).toEqual({
      type: 'domain',
      value: 'evil.example.com',
      threat_type: 'unknown',
      confidence: 0.8,
      source: 'feed-a',
      first_seen: new Date('2024-01-01T00:00:00Z'),
      last_seen: new Date('2024-01-02T00:00:00.250Z'),
      tags: ['apt', 'botnet'],
    });
  });

  it('refuses a confidence above 1 at path confidence', () => {
    expect(failingPaths({ ...valid, confidence: 1.5 })).toEqual(['confidence']);
    expect(failingPaths({ ...valid, confidence: -0.1 })).toEqual(['confidence']);
  });

  it('refuses last_seen before first_seen at path last_seen', () => {
    expect(failingPaths({ ...valid, last_seen: '2023-12-31T23:59:59Z' })).toEqual(['last_seen']);
  });

  it('refuses a first_seen or last_seen far in the future or before the floor, naming the field', () => {
    const future = '9999-12-31T00:00:00Z';
    const past = '1990-01-01T00:00:00Z';
    expect(failingPaths({ ...valid, last_seen: future })).toEqual(['last_seen']);
    expect(failingPaths({ ...valid, first_seen: future, last_seen: future })).toEqual([
      'first_seen',
      'last_seen',
    ]);
    expect(failingPaths({ ...valid, first_seen: past })).toEqual(['first_seen']);
    const result = iocSchema.safeParse({ ...valid, last_seen: future });
    expect(result.error?.issues[0]?.message).toMatch(/^must not be after \S+Z \(now \+ 900 s\)$/);
    const early = iocSchema.safeParse({ ...valid, first_seen: past });
    expect(early.error?.issues[0]?.message).toBe('must not be before 2000-01-01T00:00:00Z');
  });

  it('accepts sightings just inside the bounds: first_seen at the floor, last_seen a minute ahead', () => {
    const lastSeen = new Date(Date.now() + 60_000);
    expect(
      iocSchema.parse({ ...valid, first_seen: '2000-01-01T00:00:00Z', last_seen: lastSeen })
        .last_seen,
    ).toEqual(lastSeen);
  });

  it('refuses a value that is not valid for its type at path value', () => {
    expect(failingPaths({ ...valid, value: 'not a domain' })).toEqual(['value']);
    expect(failingPaths({ ...valid, type: 'ipv4', value: '999.1.1.1' })).toEqual(['value']);
    expect(failingPaths({ ...valid, type: 'ipv6', value: 'fe80::1%eth0' })).toEqual(['value']);
  });

  it('refuses an unknown type at path type', () => {
    expect(failingPaths({ ...valid, type: 'hostname' })).toEqual(['type']);
  });

  it('refuses tags and sources that are not slugs', () => {
    expect(failingPaths({ ...valid, tags: ["a'b"] })).toEqual(['tags.0']);
    expect(failingPaths({ ...valid, source: 'x; DROP TABLE iocs' })).toEqual(['source']);
  });
});

describe('mergeIoc', () => {
  // One indicator throughout: merging only makes sense per key.
  const sample = (seed: number, n: number): StoredIoc[] => {
    const random = seededRandom(seed);
    return Array.from({ length: n }, () => randomStoredIoc(random, 1));
  };

  it('is commutative', () => {
    const records = sample(11, 300);
    for (let i = 0; i + 1 < records.length; i++) {
      const a = records[i]!;
      const b = records[i + 1]!;
      expect(mergeIoc(a, b)).toEqual(mergeIoc(b, a));
    }
  });

  it('is associative', () => {
    const records = sample(12, 300);
    for (let i = 0; i + 2 < records.length; i++) {
      const [a, b, c] = [records[i]!, records[i + 1]!, records[i + 2]!];
      expect(mergeIoc(mergeIoc(a, b), c)).toEqual(mergeIoc(a, mergeIoc(b, c)));
    }
  });

  it('is idempotent: merging a record, or a merge, with itself changes nothing', () => {
    const records = sample(13, 300);
    for (let i = 0; i + 1 < records.length; i++) {
      const a = records[i]!;
      const ab = mergeIoc(a, records[i + 1]!);
      expect(mergeIoc(a, a)).toEqual(a);
      expect(mergeIoc(ab, ab)).toEqual(ab);
      expect(mergeIoc(ab, a)).toEqual(ab);
    }
  });

  it('folds to the same record in any order', () => {
    const records = sample(14, 300);
    const fold = (list: StoredIoc[]) => list.reduce((acc, r) => mergeIoc(acc, r));
    const expected = fold(records);
    const random = seededRandom(15);
    for (let i = 0; i < 20; i++) expect(fold(shuffle(random, records))).toEqual(expected);
  });

  it('keeps the earliest first_seen, the latest last_seen and the union of sets', () => {
    const records = sample(16, 300);
    const merged = records.reduce((acc, r) => mergeIoc(acc, r));
    const times = (key: 'first_seen' | 'last_seen') => records.map((r) => r[key].getTime());
    expect(merged.first_seen.getTime()).toBe(Math.min(...times('first_seen')));
    expect(merged.last_seen.getTime()).toBe(Math.max(...times('last_seen')));
    expect(merged.tags).toEqual([...new Set(records.flatMap((r) => r.tags))].sort());
    expect(merged.sources).toEqual([...new Set(records.flatMap((r) => r.sources))].sort());
  });

  it('takes confidence and threat type from the latest sighting, ties broken by confidence then threat type', () => {
    const base: StoredIoc = {
      type: 'domain',
      value: 'x.example.com',
      threat_type: 'malware',
      confidence: 0.5,
      sources: ['a'],
      first_seen: new Date('2024-01-01T00:00:00Z'),
      last_seen: new Date('2024-01-02T00:00:00Z'),
      tags: [],
    };
    const later = { ...base, last_seen: new Date('2024-01-02T00:00:00.001Z'), confidence: 0.1 };
    expect(mergeIoc(base, later)).toMatchObject({ confidence: 0.1, threat_type: 'malware' });
    const surer = { ...base, confidence: 0.9, threat_type: 'c2' };
    expect(mergeIoc(surer, base)).toMatchObject({ confidence: 0.9, threat_type: 'c2' });
    const greaterType = { ...base, threat_type: 'phishing' };
    expect(mergeIoc(base, greaterType)).toMatchObject({ threat_type: 'phishing' });
  });
});

describe('mergeBatch', () => {
  it('collapses a batch to one merged record per (type, value)', () => {
    const parse = (value: string, source: string, lastSeen: string) =>
      iocSchema.parse({
        type: 'domain',
        value,
        confidence: 0.5,
        source,
        first_seen: '2024-01-01T00:00:00Z',
        last_seen: lastSeen,
      });
    const batch = mergeBatch([
      parse('a.example.com', 'feed-b', '2024-01-02T00:00:00Z'),
      parse('B.example.com', 'feed-a', '2024-01-02T00:00:00Z'),
      parse('A.EXAMPLE.COM.', 'feed-a', '2024-01-03T00:00:00Z'),
    ]);
    expect(batch.map((r) => [r.value, r.sources, r.last_seen.toISOString()])).toEqual([
      ['a.example.com', ['feed-a', 'feed-b'], '2024-01-03T00:00:00.000Z'],
      ['b.example.com', ['feed-a'], '2024-01-02T00:00:00.000Z'],
    ]);
  });
});
