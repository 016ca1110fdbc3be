import { describe, expect, it } from 'vitest';
import { needsArchive } from '../../jobs/activities-archive/handler.js';
import {
  activityArchiveLine,
  activityArchiveManifestKey,
  activityArchivePartKey,
} from '../../src/domain/activity-archive.js';
import type { StoredActivity } from '../../src/domain/activity.js';

const event: StoredActivity = {
  event_id: 'evt_1',
  timestamp: '2026-01-01T00:00:00.000Z',
  source: 'dns',
  event_type: 'dns_query',
  domain: 'a.example.com',
  attributes: { zeta: [{ y: 1, x: 2 }], alpha: { b: 2, a: 1 } },
};

describe('activity archive layout', () => {
  it('keys are deterministic per day and generation, under their own prefix', () => {
    expect(activityArchivePartKey('2026-01-01', 1, 1)).toBe(
      'archive/activities/v1/day=2026-01-01/generation=1/part-00001.ndjson.gz',
    );
    expect(activityArchiveManifestKey('2026-01-01', 2)).toBe(
      'archive/activities/v1/day=2026-01-01/generation=2/manifest.json',
    );
    expect(() => activityArchivePartKey('2026-01-01', 0, 1)).toThrow(RangeError);
    expect(() => activityArchivePartKey('2026-01-01', 1, 0)).toThrow(RangeError);
  });

  it('an event is one line whatever order its keys came in (jsonb reorders them)', () => {
    const reordered = JSON.parse(
      '{"attributes":{"alpha":{"a":1,"b":2},"zeta":[{"x":2,"y":1}]},"source":"dns","domain":"a.example.com","event_type":"dns_query","timestamp":"2026-01-01T00:00:00.000Z","event_id":"evt_1"}',
    ) as StoredActivity;
    const line = activityArchiveLine(event);
    expect(activityArchiveLine(reordered)).toBe(line);
    expect(line).toBe(
      '{"event_id":"evt_1","timestamp":"2026-01-01T00:00:00.000Z","source":"dns","event_type":"dns_query","domain":"a.example.com","attributes":{"alpha":{"a":1,"b":2},"zeta":[{"x":2,"y":1}]}}\n',
    );
  });
});

describe('which activity days need a new generation', () => {
  const latest = { rows: 10, dropped: false, backend: 'postgres' as const };
  it('a day never archived, with events', () => {
    expect(needsArchive(1, undefined, 'postgres')).toBe(true);
    expect(needsArchive(0, undefined, 'postgres')).toBe(false);
  });
  it('a day holding more events than its newest generation (a late event)', () => {
    expect(needsArchive(11, latest, 'postgres')).toBe(true);
    expect(needsArchive(10, latest, 'postgres')).toBe(false);
    // Fewer: a subset of the generation (append-only), nothing new.
    expect(needsArchive(9, latest, 'postgres')).toBe(false);
  });
  it('a day refilled after its partition was dropped, or read from the other backend', () => {
    expect(needsArchive(1, { ...latest, dropped: true }, 'postgres')).toBe(true);
    expect(needsArchive(10, latest, 'clickhouse')).toBe(true);
  });
});
