import { describe, expect, it } from 'vitest';
import {
  activitySchema,
  canonicalActivityBatch,
  MAX_ACTIVITY_ATTRIBUTES_CHARS,
} from '../../src/domain/activity.js';
import { ValidationError } from '../../src/errors/index.js';
import {
  activitySearchQuerySchema,
  decodeActivityCursor,
  encodeActivityCursor,
  searchActivities,
} from '../../queues/use-cases/search-activities.js';
import type { ActivityQuery } from '../../src/stores/hot/activity-store.js';

const event = {
  event_id: 'evt_123',
  timestamp: '2026-01-01T00:00:00Z',
  source: 'dns',
  event_type: 'dns_query',
  domain: 'Evil.COM.',
};

const issuesOf = (value: unknown) => {
  const parsed = activitySchema.safeParse(value);
  return parsed.success ? [] : ValidationError.fromZod(parsed.error).issues.map((i) => i.path);
};

describe('activity schema', () => {
  it("accepts seed 000's activity and normalizes the domain", () => {
    const parsed = activitySchema.parse(event);
    expect(parsed.domain).toBe('evil.com');
    expect(parsed.timestamp).toEqual(new Date('2026-01-01T00:00:00Z'));
  });

  it('names each bad field: enums, addresses, hashes, unknown keys, a clock in 9999', () => {
    expect(issuesOf({ ...event, source: 'DNS' })).toEqual(['source']);
    expect(issuesOf({ ...event, event_type: 'ping' })).toEqual(['event_type']);
    expect(issuesOf({ ...event, src_ip: '10.0.0.256' })).toEqual(['src_ip']);
    expect(issuesOf({ ...event, file_hash: 'abc' })).toEqual(['file_hash']);
    expect(issuesOf({ ...event, colour: 'red' })).toEqual(['colour']);
    expect(issuesOf({ ...event, timestamp: '9999-01-01T00:00:00Z' })).toEqual(['timestamp']);
    expect(issuesOf({ ...event, event_id: 'a\nb' })).toEqual(['event_id']);
  });

  it('caps the attributes object', () => {
    expect(issuesOf({ ...event, attributes: { query_type: 'A' } })).toEqual([]);
    const big = { blob: 'x'.repeat(MAX_ACTIVITY_ATTRIBUTES_CHARS) };
    expect(issuesOf({ ...event, attributes: big })).toEqual(['attributes']);
    // PostgreSQL's jsonb cannot hold these: refused before anything is enqueued.
    expect(issuesOf({ ...event, attributes: { q: 'a\u0000b' } })).toEqual(['attributes']);
    expect(issuesOf({ ...event, attributes: { q: '\ud800' } })).toEqual(['attributes']);
    expect(issuesOf({ ...event, user: '\udc00x' })).toEqual(['user']);
    expect(issuesOf({ ...event, attributes: { q: '\\ud800 😀' } })).toEqual([]);
  });

  it('a canonical batch keeps the first of duplicates, in (timestamp, event_id, source) order', () => {
    const a = activitySchema.parse({ ...event, event_id: 'b', domain: 'first.example' });
    const b = activitySchema.parse({ ...event, event_id: 'b', domain: 'second.example' });
    const c = activitySchema.parse({ ...event, event_id: 'a' });
    const batch = canonicalActivityBatch([a, b, c]);
    expect(batch.map((r) => [r.event_id, r.domain])).toEqual([
      ['a', 'evil.com'],
      ['b', 'first.example'],
    ]);
    expect(batch[0]!.timestamp).toBe('2026-01-01T00:00:00.000Z');
  });
});

describe('activity search', () => {
  const now = new Date('2026-01-10T00:00:00Z');
  const calls: ActivityQuery[] = [];
  const store = {
    search: (q: ActivityQuery) => {
      calls.push(q);
      return Promise.resolve(
        Array.from({ length: q.limit }, (_, i) => ({
          event_id: `e${i}`,
          timestamp: new Date(q.start.getTime() + i).toISOString(),
          source: 'dns' as const,
          event_type: 'dns_query' as const,
        })),
      );
    },
  };
  const search = (query: Record<string, string>) =>
    searchActivities(activitySearchQuerySchema.parse(query), { activities: store, now });

  it('defaults to the last 24 hours and 100 events, and asks for one more to know of a next page', async () => {
    const page = await search({});
    expect(page.start_time).toBe('2026-01-09T00:00:00.000Z');
    expect(page.end_time).toBe('2026-01-10T00:00:00.000Z');
    expect(calls.at(-1)!.limit).toBe(101);
    expect(page.activities).toHaveLength(100);
    expect(decodeActivityCursor(page.next_cursor!)).toEqual({
      timestamp: page.activities[99]!.timestamp,
      event_id: 'e99',
      source: 'dns',
    });
  });

  it('refuses a window over 7 days (start_time), an empty one (end_time), a foreign cursor', async () => {
    await expect(
      search({ start_time: '2026-01-01T00:00:00Z', end_time: '2026-01-08T00:00:01Z' }),
    ).rejects.toMatchObject({ issues: [{ path: 'start_time' }] });
    await expect(
      search({ start_time: '2026-01-02T00:00:00Z', end_time: '2026-01-02T00:00:00Z' }),
    ).rejects.toMatchObject({ issues: [{ path: 'end_time' }] });
    await expect(search({ cursor: 'bm9wZQ' })).rejects.toMatchObject({
      issues: [{ path: 'cursor' }],
    });
    expect(activitySearchQuerySchema.safeParse({ limit: '1001' }).success).toBe(false);
  });

  it('a cursor round-trips', () => {
    const position = { timestamp: '2026-01-01T00:00:00.000Z', event_id: 'évt/1', source: 'dns' };
    expect(decodeActivityCursor(encodeActivityCursor(position))).toEqual(position);
  });
});
