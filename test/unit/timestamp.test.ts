import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_TIMESTAMP_BOUNDS,
  configureTimestampBounds,
  timestampBounds,
  timestampBoundsProblem,
  timestampSchema,
  unboundedTimestampSchema,
  utcDayBoundsProblem,
} from '../../src/domain/timestamp.js';
import { loadConfig } from '../../src/config.js';
import { archiveLockJob } from '../../jobs/archive-lock/definition.js';

const FAR_FUTURE = '9999-12-31T00:00:00Z';
const FAR_PAST = '1990-01-01T00:00:00Z';
const iso = (ms: number) => new Date(ms).toISOString();

/** The messages a value fails timestampSchema with. */
const messages = (value: unknown) => {
  const result = timestampSchema.safeParse(value);
  return result.success ? [] : result.error.issues.map((i) => i.message);
};

afterEach(() => configureTimestampBounds(DEFAULT_TIMESTAMP_BOUNDS));

describe('timestamp bounds', () => {
  it('default to TIMESTAMP_FLOOR 2000-01-01T00:00:00Z and a 15-minute future skew, as the configuration does', () => {
    const config = loadConfig({});
    expect(config.TIMESTAMP_FLOOR).toEqual(DEFAULT_TIMESTAMP_BOUNDS.floor);
    expect(config.TIMESTAMP_FUTURE_SKEW_SECONDS * 1000).toBe(
      DEFAULT_TIMESTAMP_BOUNDS.maxFutureSkewMs,
    );
    expect(timestampBounds()).toEqual({
      floor: new Date('2000-01-01T00:00:00Z'),
      maxFutureSkewMs: 900_000,
    });
  });

  it('refuse 9999-12-31 as after now + the skew and 1990-01-01 as before the floor', () => {
    expect(messages(FAR_FUTURE)).toEqual([
      expect.stringMatching(/^must not be after .+ \(now \+ 900 s\)$/),
    ]);
    expect(messages(FAR_PAST)).toEqual(['must not be before 2000-01-01T00:00:00Z']);
    expect(messages(new Date(FAR_FUTURE))).toHaveLength(1);
    // The unbounded parse (the CLI's, before the configuration is loaded) still reads them.
    expect(unboundedTimestampSchema.parse(FAR_FUTURE)).toEqual(new Date(FAR_FUTURE));
  });

  it('accept the floor itself and a value just inside the future bound', () => {
    expect(messages('2000-01-01T00:00:00Z')).toEqual([]);
    expect(messages('1999-12-31T23:59:59.999Z')).toHaveLength(1);
    expect(messages(iso(Date.now() + 900_000 - 5_000))).toEqual([]);
    expect(messages(iso(Date.now() + 900_000 + 5_000))).toHaveLength(1);
  });

  it('a value accepted now still passes later: the future bound only loosens as time goes on', () => {
    const now = Date.now();
    const justInside = new Date(now + DEFAULT_TIMESTAMP_BOUNDS.maxFutureSkewMs);
    expect(timestampBoundsProblem(justInside, DEFAULT_TIMESTAMP_BOUNDS, now)).toBeUndefined();
    for (const later of [1, 60_000, 86_400_000, 365 * 86_400_000]) {
      expect(
        timestampBoundsProblem(justInside, DEFAULT_TIMESTAMP_BOUNDS, now + later),
      ).toBeUndefined();
    }
    expect(timestampBoundsProblem(new Date(now + 900_001), DEFAULT_TIMESTAMP_BOUNDS, now)).toMatch(
      /^must not be after/,
    );
  });

  it('come from the composition root: configured bounds replace the defaults for every schema', () => {
    configureTimestampBounds({ floor: new Date('1980-01-01T00:00:00Z'), maxFutureSkewMs: 0 });
    expect(messages(FAR_PAST)).toEqual([]);
    expect(messages(iso(Date.now() + 60_000))).toEqual([
      expect.stringMatching(/^must not be after .+ \(now \+ 0 s\)$/),
    ]);
    expect(() => configureTimestampBounds({ floor: new Date('nope'), maxFutureSkewMs: 0 })).toThrow(
      RangeError,
    );
  });

  it('the configuration refuses a floor before 1970 or without an offset, and a negative skew', () => {
    expect(() => loadConfig({ TIMESTAMP_FLOOR: '1969-12-31T23:59:59Z' })).toThrow(
      /TIMESTAMP_FLOOR/,
    );
    expect(() => loadConfig({ TIMESTAMP_FLOOR: '2000-01-01' })).toThrow(/TIMESTAMP_FLOOR/);
    expect(() => loadConfig({ TIMESTAMP_FUTURE_SKEW_SECONDS: '-1' })).toThrow(
      /TIMESTAMP_FUTURE_SKEW_SECONDS/,
    );
    const config = loadConfig({
      TIMESTAMP_FLOOR: '1990-01-01T00:00:00+02:00',
      TIMESTAMP_FUTURE_SKEW_SECONDS: '60',
    });
    expect(config.TIMESTAMP_FLOOR).toEqual(new Date('1989-12-31T22:00:00Z'));
    expect(config.TIMESTAMP_FUTURE_SKEW_SECONDS).toBe(60);
  });
});

describe('UTC day bounds (archive.lock day)', () => {
  const dayIssues = (day: string) => {
    const result = archiveLockJob.payload.safeParse({ day });
    return result.success
      ? []
      : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('refuse 9999-12-31 and 1990-01-01 at path day, and accept the floor day and today', () => {
    expect(dayIssues('9999-12-31')).toEqual([expect.stringMatching(/^day: must not be after/)]);
    expect(dayIssues('1990-01-01')).toEqual(['day: must not be before 2000-01-01']);
    expect(dayIssues('2000-01-01')).toEqual([]);
    expect(dayIssues(new Date().toISOString().slice(0, 10))).toEqual([]);
    expect(dayIssues('2026-02-31')).toEqual(['day: not a calendar day']);
  });

  it('a floor in the middle of a day still lets that day be archived', () => {
    const bounds = { floor: new Date('2000-01-01T12:00:00Z'), maxFutureSkewMs: 0 };
    expect(utcDayBoundsProblem(new Date('2000-01-01T00:00:00Z'), bounds)).toBeUndefined();
    expect(utcDayBoundsProblem(new Date('1999-12-31T00:00:00Z'), bounds)).toBe(
      'must not be before 2000-01-01',
    );
  });
});
