import { describe, expect, it } from 'vitest';
import { UTC_DAY_MS, utcDayNumberOf, utcDayOfNumber } from '../../src/domain/utc-day.js';
import {
  boundedRanges,
  summarizeRetentionDays,
  widen,
  type RetentionDay,
} from '../../src/stores/hot/hot-retention.js';

const day = (
  d: string,
  rows: number,
  oldest: string,
  newest: string,
  archived = rows,
): RetentionDay => ({
  day: d,
  rows,
  archived,
  oldest: new Date(oldest),
  newest: new Date(newest),
});

describe('hot retention arithmetic', () => {
  it('day numbers and days convert both ways, in UTC, before 1970 too', () => {
    expect(utcDayOfNumber(0)).toBe('1970-01-01');
    expect(utcDayOfNumber(-1)).toBe('1969-12-31');
    expect(utcDayNumberOf('2026-03-01')).toBe(Date.UTC(2026, 2, 1) / UTC_DAY_MS);
    expect(utcDayOfNumber(utcDayNumberOf('2024-02-29'))).toBe('2024-02-29');
    expect(() => utcDayNumberOf('2026-3-1')).toThrow(RangeError);
    expect(() => utcDayNumberOf('2026-02-30x')).toThrow(RangeError);
  });

  it('a plan counts the archived rows of archived days, keeps the changed ones, and blocks days not in the ledger', () => {
    const days = [
      day('2026-01-01', 3, '2026-01-01T01:00:00Z', '2026-01-01T05:00:00Z'),
      day('2026-01-02', 4, '2026-01-02T00:00:00Z', '2026-01-02T23:59:59.999Z'),
      // Two of five rows changed after the day's archive.
      day('2026-01-03', 5, '2026-01-03T02:00:00Z', '2026-01-03T03:00:00Z', 3),
    ];
    const bounds = new Map([
      ['2026-01-01', '10'],
      ['2026-01-03', '12'],
    ]);
    expect(summarizeRetentionDays(days, bounds)).toEqual({
      rows: 6,
      oldest: '2026-01-01T01:00:00.000Z',
      newest: '2026-01-03T03:00:00.000Z',
      blocked_unarchived_rows: 4,
      kept_changed_since_archive: 2,
    });
    // No bounds (archiving off): the store reports every row as deletable.
    expect(summarizeRetentionDays(days.slice(0, 2), undefined)).toMatchObject({
      rows: 7,
      blocked_unarchived_rows: 0,
      kept_changed_since_archive: 0,
    });
    expect(summarizeRetentionDays(days, new Map())).toEqual({
      rows: 0,
      oldest: null,
      newest: null,
      blocked_unarchived_rows: 12,
      kept_changed_since_archive: 0,
    });
  });

  it('each archived day with a high-water mark is a window of its own, the last ending at the cutoff', () => {
    const cutoff = new Date('2026-01-05T12:00:00Z');
    const at = (d: string) => Date.parse(`${d}T00:00:00Z`);
    expect(boundedRanges(cutoff, undefined)).toEqual([
      { from: null, to: cutoff.getTime(), highWater: null },
    ]);
    expect(
      boundedRanges(
        cutoff,
        new Map([
          ['2026-01-02', '7'],
          ['2026-01-01', '5'],
          // Archived before versions existed: vouches for no row.
          ['2026-01-03', null],
          ['2026-01-05', '9'],
          ['2026-01-06', '11'],
        ]),
      ),
    ).toEqual([
      { from: at('2026-01-01'), to: at('2026-01-02'), highWater: '5' },
      { from: at('2026-01-02'), to: at('2026-01-03'), highWater: '7' },
      { from: at('2026-01-05'), to: cutoff.getTime(), highWater: '9' },
    ]);
    expect(boundedRanges(cutoff, new Map())).toEqual([]);
  });

  it('widen keeps the oldest and newest across batches', () => {
    const a = { rows: 1, oldest: new Date(10), newest: new Date(20) };
    const b = { rows: 1, oldest: new Date(5), newest: new Date(15) };
    expect(widen(widen({ oldest: null, newest: null }, a), b)).toEqual({
      oldest: new Date(5),
      newest: new Date(20),
    });
  });
});
