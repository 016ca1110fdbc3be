import { describe, expect, it } from 'vitest';
import { createOpenApiDocument } from '../../src/api/openapi.js';
import { OPEN_WATERMARK_OPERATIONS } from '../../src/api/open-watermark-access.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { cidrMatcher, parseCidrList } from '../../src/domain/network-cidr.js';
import { createJobRegistry } from '../../jobs/registry.js';

describe('WATERMARK_OPEN_CIDRS', () => {
  it('is off by default', () => {
    expect(loadConfig({}).WATERMARK_OPEN_CIDRS).toEqual([]);
  });

  it('parses IPv4 and IPv6 networks; a bare address is a single host', () => {
    const { cidrs, problems } = parseCidrList(' 10.0.0.0/8, fd00::/8,192.168.1.7 ,::1 ,, ');
    expect(problems).toEqual([]);
    expect(cidrs).toEqual([
      { address: '10.0.0.0', prefix: 8, family: 'ipv4' },
      { address: 'fd00::', prefix: 8, family: 'ipv6' },
      { address: '192.168.1.7', prefix: 32, family: 'ipv4' },
      { address: '::1', prefix: 128, family: 'ipv6' },
    ]);
  });

  it('refuses at start-up, naming the variable and every bad entry at once', () => {
    let caught: unknown;
    try {
      loadConfig({
        WATERMARK_OPEN_CIDRS: '10.0.0.0/33,example.com,fd00::/129,10.0.0.0/x,10.0.0.0/8',
      });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems;
    expect(problems).toHaveLength(4);
    for (const problem of problems) expect(problem).toMatch(/^WATERMARK_OPEN_CIDRS: "/);
    expect(problems.join('\n')).toContain('"10.0.0.0/33" has a prefix length outside 0..32');
    expect(problems.join('\n')).toContain('"example.com" is not an IPv4 or IPv6 network');
    expect(problems.join('\n')).toContain('"fd00::/129" has a prefix length outside 0..128');
  });

  it('matches socket addresses, an IPv4-mapped IPv6 address as its IPv4 address', () => {
    const inside = cidrMatcher(parseCidrList('10.0.0.0/8,fd00::/8').cidrs);
    expect(inside('10.200.3.4')).toBe(true);
    expect(inside('::ffff:10.200.3.4')).toBe(true);
    expect(inside('fd12:3456::1')).toBe(true);
    expect(inside('11.0.0.1')).toBe(false);
    expect(inside('::ffff:11.0.0.1')).toBe(false);
    expect(inside('fe80::1')).toBe(false);
    expect(inside('127.0.0.1')).toBe(false);
    expect(inside('not an address')).toBe(false);
    expect(cidrMatcher([])('10.0.0.1')).toBe(false);
  });

  it('opens only operations the route table has (a renamed route must not silently close or open)', () => {
    const doc = createOpenApiDocument(loadConfig({}), createJobRegistry());
    const operations = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) =>
        Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
      ),
    );
    for (const open of OPEN_WATERMARK_OPERATIONS) expect(operations, open).toContain(open);
    expect([...OPEN_WATERMARK_OPERATIONS].sort()).toEqual([
      'GET /api/v1/watermarks/{source_id}',
      'GET /status',
      'PUT /api/v1/watermarks/{source_id}',
    ]);
  });
});
