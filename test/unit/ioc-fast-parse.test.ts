import { describe, expect, it } from 'vitest';
import { iocSchema } from '../../src/domain/ioc.js';
import { fastParseIoc } from '../../src/domain/ioc-fast-parse.js';

const base = {
  type: 'domain',
  value: 'Evil.Example.COM.',
  threat_type: ' C2 ',
  confidence: 0.9,
  source: 'OTX',
  first_seen: '2026-01-01T00:00:00Z',
  last_seen: '2026-01-02T00:00:00.123456+02:00',
  tags: ['b', 'A', 'b'],
};

const hourAgo = new Date(Date.now() - 3_600_000);
const values: Record<string, unknown[]> = {
  type: [
    'domain',
    'ipv4',
    'ipv6',
    'url',
    'md5',
    'sha1',
    'sha256',
    'email',
    'DOMAIN',
    'x',
    3,
    undefined,
  ],
  value: [
    'Evil.Example.COM.',
    ' 198.51.100.7 ',
    '2001:DB8::1',
    'fe80::1%eth0',
    'HTTP://Example.com/Path?Q=1',
    'D41D8CD98F00B204E9800998ECF8427E',
    'da39a3ee5e6b4b0d3255bfef95601890afd80709',
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    'Alice@Example.org',
    '',
    'a'.repeat(2049),
    'bad\u0007value',
    'not a domain!',
    '010.1.1.1',
    7,
  ],
  threat_type: ['c2', ' Phishing ', undefined, null, '', 'has space', 'x'.repeat(65), 5],
  confidence: [0, 1, 0.5, 1.0001, -0.1, Number.NaN, Number.POSITIVE_INFINITY, '0.5', undefined],
  source: ['otx', ' MDE_logs ', '', null, undefined, '-lead'],
  first_seen: [
    '2026-01-01T00:00:00Z',
    '2026-01-01T00:00:00',
    '2026-01-01T00:00:00.123456',
    '2026-13-01T00:00:00Z',
    '2026-01-01',
    '1999-12-31T23:59:59Z',
    '9999-01-01T00:00:00Z',
    hourAgo,
    new Date(Number.NaN),
    1_700_000_000_000,
    undefined,
  ],
  last_seen: [
    '2026-01-02T00:00:00.123456+02:00',
    '2025-12-31T00:00:00Z',
    hourAgo,
    '2026-01-02T00:00:00z',
  ],
  tags: [
    ['b', 'A', 'b'],
    [],
    undefined,
    ['x y'],
    Array.from({ length: 33 }, (_, i) => `t${i}`),
    'tag',
    [3],
  ],
};

/** Every single-field variation of the base record, and pairs of type and value. */
function* records(): Generator<unknown> {
  yield base;
  for (const [field, options] of Object.entries(values)) {
    for (const v of options) yield { ...base, [field]: v };
  }
  for (const type of values.type!)
    for (const value of values.value!) yield { ...base, type, value };
  yield { ...base, extra: 1 };
  const minimal: Record<string, unknown> = { ...base };
  delete minimal.threat_type;
  delete minimal.tags;
  yield minimal;
  yield null;
  yield [base];
  yield Object.assign(Object.create({ inherited: 1 }) as object, base);
}

describe('fastParseIoc', () => {
  it('gives exactly what iocSchema gives, or leaves the record to iocSchema', () => {
    let fast = 0;
    const slow: unknown[] = [];
    for (const record of records()) {
      const got = fastParseIoc(record);
      const parsed = iocSchema.safeParse(record);
      if (got === undefined) {
        if (parsed.success) slow.push(record);
        continue;
      }
      fast++;
      expect(parsed.success, JSON.stringify(record)).toBe(true);
      expect(got, JSON.stringify(record)).toEqual(parsed.data);
    }
    // Every valid record here takes the fast path (it is not a path nobody takes).
    expect(slow).toEqual([]);
    expect(fast).toBeGreaterThan(20);
  });

  it('takes the fast path for a typical collector record', () => {
    expect(
      fastParseIoc({ ...base, first_seen: hourAgo.toISOString(), last_seen: hourAgo }),
    ).toEqual(iocSchema.parse({ ...base, first_seen: hourAgo.toISOString(), last_seen: hourAgo }));
  });
});
