import { describe, expect, it } from 'vitest';
import { parseCidr, cidrContains } from '../../src/domain/cidr.js';
import { IOC_TYPES, normalizeIocValue, type IocType } from '../../src/domain/ioc.js';
import {
  STOWAGE_STIX_NAMESPACE,
  stixIndicator,
  stixPattern,
  stixString,
  uuidV5,
} from '../../src/domain/stix.js';
import { decodeSearchCursor, encodeSearchCursor } from '../../queues/use-cases/search-iocs.js';

/**
 * The subset of the STIX 2.1 patterning grammar (§9) Stowage emits: one observation
 * expression, one comparison of an object path with `=` to a string literal. A string
 * literal is `'` then any character but `'` and `\`, or `\'` / `\\`, then `'`.
 */
const STRING_LITERAL = String.raw`'((?:[^'\\]|\\['\\])*)'`;
const OBJECT_PATH: Record<IocType, string> = {
  ipv4: String.raw`ipv4-addr:value`,
  ipv6: String.raw`ipv6-addr:value`,
  domain: String.raw`domain-name:value`,
  url: String.raw`url:value`,
  email: String.raw`email-addr:value`,
  md5: String.raw`file:hashes\.(?:MD5|'MD5')`,
  sha1: String.raw`file:hashes\.'SHA-1'`,
  sha256: String.raw`file:hashes\.'SHA-256'`,
};

/** The literal's value when the pattern is valid for the type, else undefined. */
function parsePattern(type: IocType, pattern: string): string | undefined {
  const match = new RegExp(`^\\[${OBJECT_PATH[type]} = ${STRING_LITERAL}\\]$`).exec(pattern);
  return match?.[1]?.replace(/\\(['\\])/g, '$1');
}

const SAMPLES: Record<IocType, string[]> = {
  ipv4: ['1.2.3.4', '255.255.255.255'],
  ipv6: ['2001:db8::1', '::ffff:1.2.3.4'],
  domain: ['evil.example.com', 'xn--bcher-kva.example'],
  url: [
    "http://evil.example/a?b='c'&d=\\e",
    'https://x.example/%27quoted%27',
    "ftp://files.example/it's",
  ],
  email: ["o'brien@example.com", 'a.b+c@example.org'],
  md5: ['d41d8cd98f00b204e9800998ecf8427e'],
  sha1: ['da39a3ee5e6b4b0d3255bfef95601890afd80709'],
  sha256: ['e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
};

describe('the STIX 2.1 pattern of an IOC', () => {
  it('is valid in the grammar and round-trips the value for every IOC type', () => {
    for (const type of IOC_TYPES) {
      for (const raw of SAMPLES[type]) {
        const value = normalizeIocValue(type, raw);
        expect(value, `${type} ${raw}`).toBeDefined();
        const pattern = stixPattern(type, value!);
        expect(parsePattern(type, pattern), pattern).toBe(value);
      }
    }
  });

  it('escapes quotes and backslashes so a value cannot end the literal early', () => {
    expect(stixString("a'b\\c")).toBe(String.raw`'a\'b\\c'`);
    const pattern = stixPattern('url', "http://x.example/'] OR [file:name = 'x");
    expect(pattern).toBe(String.raw`[url:value = 'http://x.example/\'] OR [file:name = \'x']`);
    expect(parsePattern('url', pattern)).toBe("http://x.example/'] OR [file:name = 'x");
  });

  it('names hashes as the STIX hash vocabulary does', () => {
    expect(stixPattern('md5', 'd41d8cd98f00b204e9800998ecf8427e')).toMatch(
      /^\[file:hashes\.MD5 = /,
    );
    expect(stixPattern('sha1', 'a'.repeat(40))).toMatch(/^\[file:hashes\.'SHA-1' = /);
    expect(stixPattern('sha256', 'a'.repeat(64))).toMatch(/^\[file:hashes\.'SHA-256' = /);
  });
});

describe('a STIX indicator', () => {
  const ioc = {
    type: 'domain' as const,
    value: 'evil.example.com',
    threat_type: 'c2',
    confidence: 0.874,
    sources: ['feed-a'],
    first_seen: new Date('2026-01-01T00:00:00.000Z'),
    last_seen: new Date('2026-01-02T03:04:05.678Z'),
    tags: ['apt'],
  };

  it('has a deterministic id: a UUID v5 of type and value', () => {
    const a = stixIndicator(ioc);
    const b = stixIndicator({ ...ioc, confidence: 0.1, tags: [] });
    expect(a.id).toBe(b.id);
    expect(a.id).toMatch(
      /^indicator--[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(stixIndicator({ ...ioc, value: 'other.example.com' }).id).not.toBe(a.id);
  });

  it('maps times, confidence and labels', () => {
    const indicator = stixIndicator(ioc);
    expect(indicator).toMatchObject({
      type: 'indicator',
      spec_version: '2.1',
      pattern_type: 'stix',
      pattern: "[domain-name:value = 'evil.example.com']",
      valid_from: '2026-01-01T00:00:00.000Z',
      created: '2026-01-01T00:00:00.000Z',
      modified: '2026-01-02T03:04:05.678Z',
      confidence: 87,
      labels: ['c2', 'apt'],
      indicator_types: ['malicious-activity'],
    });
  });
});

describe('uuidV5', () => {
  it('matches RFC 9562’s example (DNS namespace, www.example.com)', () => {
    expect(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
    expect(uuidV5('x', STOWAGE_STIX_NAMESPACE)).toBe(uuidV5('x', STOWAGE_STIX_NAMESPACE));
  });
});

describe('a search cidr', () => {
  it('clears host bits and bounds the network', () => {
    const net = parseCidr('10.1.2.3/16')!;
    expect(net.text).toBe('10.1.0.0/16');
    expect(cidrContains(net, '10.1.255.255')).toBe(true);
    expect(cidrContains(net, '10.2.0.0')).toBe(false);
    expect(cidrContains(net, '2001:db8::1')).toBe(false);
    const v6 = parseCidr('2001:DB8:0:0:1::/33')!;
    expect(v6.text).toBe('2001:db8::/33');
    expect(cidrContains(v6, '2001:db8:7fff::1')).toBe(true);
    expect(cidrContains(v6, '2001:db8:8000::')).toBe(false);
    expect(cidrContains(parseCidr('::ffff:0.0.0.0/96')!, '::ffff:1.2.3.4')).toBe(true);
    expect(parseCidr('1.2.3.4')!.text).toBe('1.2.3.4/32');
    expect(parseCidr('0.0.0.0/0')!.text).toBe('0.0.0.0/0');
  });

  it('refuses what is not a network', () => {
    for (const bad of [
      '',
      '10.0.0.0/33',
      '10.0.0/8',
      'evil.com/8',
      '::/129',
      '10.0.0.0/-1',
      'fe80::1%eth0/64',
    ]) {
      expect(parseCidr(bad), bad).toBeUndefined();
    }
  });
});

describe('a search cursor', () => {
  it('round-trips a key and refuses anything else, naming `cursor`', () => {
    const key = { type: 'url' as const, value: "http://x.example/'ä" };
    expect(decodeSearchCursor(encodeSearchCursor(key))).toEqual(key);
    for (const bad of ['', 'abc', Buffer.from('["k1","nope","x"]').toString('base64url')]) {
      expect(() => decodeSearchCursor(bad)).toThrow(
        expect.objectContaining({ issues: [expect.objectContaining({ path: 'cursor' })] }),
      );
    }
  });
});
