import { describe, expect, it } from 'vitest';
import { IOC_TYPES, type StoredIoc } from '../../src/domain/ioc.js';
import { MISP_ATTRIBUTE_TYPES, mispAttribute } from '../../src/domain/misp.js';

const ioc = (over: Partial<StoredIoc> = {}): StoredIoc => ({
  type: 'domain',
  value: 'evil.example.com',
  threat_type: 'c2',
  confidence: 0.8,
  sources: ['feed-a', 'feed "b"'],
  tags: ['apt', 'c2'],
  first_seen: new Date('2026-01-01T00:00:00Z'),
  last_seen: new Date('2026-01-02T03:04:05Z'),
  ...over,
});

describe('MISP attributes', () => {
  it('maps every IOC type onto a MISP attribute type and category', () => {
    for (const type of IOC_TYPES) {
      const { type: mispType, category } = MISP_ATTRIBUTE_TYPES[type];
      expect(mispType).toMatch(/^(ip-dst|domain|url|email-src|md5|sha1|sha256)$/);
      expect(['Network activity', 'Payload delivery']).toContain(category);
    }
  });

  it('one IOC: deterministic uuid, seen times, epoch timestamp, tags without duplicates', () => {
    const a = mispAttribute(ioc());
    expect(a).toMatchObject({
      type: 'domain',
      category: 'Network activity',
      value: 'evil.example.com',
      to_ids: true,
      first_seen: '2026-01-01T00:00:00.000Z',
      last_seen: '2026-01-02T03:04:05.000Z',
      timestamp: String(Date.parse('2026-01-02T03:04:05Z') / 1000),
      comment: 'confidence 0.8',
    });
    expect(a.Tag.map((t) => t.name)).toEqual([
      'c2',
      'apt',
      'stowage:source="feed-a"',
      'stowage:source="feed b"',
    ]);
    expect(a.uuid).toBe(mispAttribute(ioc({ confidence: 0.1 })).uuid);
    expect(a.uuid).not.toBe(mispAttribute(ioc({ value: 'other.example.com' })).uuid);
    expect(a.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('an IOC of unknown threat type is not flagged for IDS', () => {
    expect(mispAttribute(ioc({ threat_type: 'unknown' })).to_ids).toBe(false);
  });
});
