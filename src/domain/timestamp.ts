import { z } from 'zod';

const OFFSET = /(?:[Zz]|[+-]\d{2}:\d{2})$/;
const TIMESTAMP_MESSAGE = 'must be an ISO 8601 timestamp such as 2024-01-01T12:30:00Z';

/** The range every timestamp Stowage accepts must fall in (TIMESTAMP_FLOOR, TIMESTAMP_FUTURE_SKEW_SECONDS). */
export interface TimestampBounds {
  /** The earliest instant accepted. */
  readonly floor: Date;
  /** How far past the clock of the process that validates an instant may be, in ms. */
  readonly maxFutureSkewMs: number;
}

/**
 * The bounds a process uses until its composition root configures its own, equal to the
 * configuration's defaults, so a schema parsed before that (a library's in-process producer)
 * is never unbounded.
 */
export const DEFAULT_TIMESTAMP_BOUNDS: TimestampBounds = Object.freeze({
  floor: new Date('2000-01-01T00:00:00Z'),
  maxFutureSkewMs: 15 * 60_000,
});

// Why one module-level bounds object, set once by the composition root
// (src/composition/root.ts), and not schemas built from a factory: timestampSchema sits inside static schemas that are the
// single source of the job types (jobs/*/definition.ts, their literal types feed the
// producer, the SDK and the OpenAPI document) and of the request bodies. A factory would
// thread the configuration through every one of them and turn the job registry into a
// per-config object, for two numbers that are fixed for a process's life. The bounds are a
// plain frozen struct (no thunk), replaced whole; the clock is read at parse time, so a
// payload the api accepted still parses in a worker later (now only grows: the future bound
// only loosens, the floor does not move).
let current: TimestampBounds = DEFAULT_TIMESTAMP_BOUNDS;

/** Sets this process's timestamp bounds; called once by the composition root (createRoot). */
export function configureTimestampBounds(bounds: TimestampBounds): void {
  if (Number.isNaN(bounds.floor.getTime()) || !(bounds.maxFutureSkewMs >= 0)) {
    throw new RangeError('timestamp bounds need a valid floor and a non-negative skew');
  }
  current = Object.freeze({
    floor: new Date(bounds.floor),
    maxFutureSkewMs: bounds.maxFutureSkewMs,
  });
}

/** The bounds this process validates with. */
export function timestampBounds(): TimestampBounds {
  return current;
}

/** Formats an instant as ISO 8601 without zero milliseconds (`2000-01-01T00:00:00Z`). */
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

/**
 * Why an instant is out of bounds, or undefined when it is inside them. The latest instant
 * accepted is `now` plus the skew, so a value just inside keeps passing as time goes on.
 */
export function timestampBoundsProblem(
  instant: Date,
  bounds: TimestampBounds = current,
  now: number = Date.now(),
): string | undefined {
  const ms = instant.getTime();
  if (ms < bounds.floor.getTime()) return `must not be before ${iso(bounds.floor.getTime())}`;
  const latest = now + bounds.maxFutureSkewMs;
  if (ms > latest) {
    return `must not be after ${iso(latest)} (now + ${Math.round(bounds.maxFutureSkewMs / 1000)} s)`;
  }
  return undefined;
}

/**
 * An ISO 8601 / RFC 3339 date-time, or a Date, without bounds: what the CLI parses before
 * it has loaded the configuration that holds them. Everything a route or a job accepts
 * uses timestampSchema.
 */
export const unboundedTimestampSchema = z
  .union(
    [
      z.date({ error: TIMESTAMP_MESSAGE }),
      z.iso.datetime({ offset: true, local: true, error: TIMESTAMP_MESSAGE }),
    ],
    { error: TIMESTAMP_MESSAGE },
  )
  .transform((value) =>
    value instanceof Date ? value : new Date(OFFSET.test(value) ? value : `${value}Z`),
  );

/**
 * An ISO 8601 / RFC 3339 date-time, or a Date, within this process's bounds: not before
 * TIMESTAMP_FLOOR, not after now + TIMESTAMP_FUTURE_SKEW_SECONDS. A value without an
 * offset is read as UTC, not local time: the seed's Python collectors send
 * `datetime.utcnow().isoformat()`, which has none. Precision beyond milliseconds (Python's
 * microseconds) is dropped.
 */
export const timestampSchema = unboundedTimestampSchema.superRefine((instant, ctx) => {
  const problem = timestampBoundsProblem(instant);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

/**
 * Why a UTC day `YYYY-MM-DD` is out of bounds, or undefined: its window must reach past the
 * floor and must not start after now + the skew (archive.lock's `day`).
 */
export function utcDayBoundsProblem(
  dayStart: Date,
  bounds: TimestampBounds = current,
  now: number = Date.now(),
): string | undefined {
  const floorDay = Math.floor(bounds.floor.getTime() / 86_400_000) * 86_400_000;
  if (dayStart.getTime() < floorDay) return `must not be before ${iso(floorDay).slice(0, 10)}`;
  // Only the future bound applies to the day's start; the floor may fall inside the day.
  return timestampBoundsProblem(dayStart, { ...bounds, floor: new Date(floorDay) }, now);
}
