// A UTC calendar day ('YYYY-MM-DD') is the unit the archive works in: one window of
// last_seen per day, one manifest per day, one ledger row per day.

/** Milliseconds in a UTC day. */
export const UTC_DAY_MS = 86_400_000;

const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

/** Whether a string is a real calendar day 'YYYY-MM-DD' (2026-02-31 is not). */
export function isUtcDay(day: string): boolean {
  if (!DAY_PATTERN.test(day)) return false;
  // Date.parse rolls 02-31 over into March, so the round trip is the check.
  const ms = Date.parse(`${day}T00:00:00Z`);
  return !Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 10) === day;
}

/** The UTC day an instant falls on. */
export function utcDayOf(instant: Date): string {
  return instant.toISOString().slice(0, 10);
}

/** The window of a UTC day: [day 00:00, next day 00:00). Throws on anything but a real day. */
export function utcDayWindow(day: string): { start: Date; end: Date } {
  if (!isUtcDay(day)) throw new RangeError(`not a YYYY-MM-DD day: ${JSON.stringify(day)}`);
  const start = Date.parse(`${day}T00:00:00Z`);
  return { start: new Date(start), end: new Date(start + UTC_DAY_MS) };
}

/** 00:00 UTC of the day an instant falls on. */
export function startOfUtcDay(instant: Date): Date {
  return new Date(Math.floor(instant.getTime() / UTC_DAY_MS) * UTC_DAY_MS);
}

/** The UTC day of a day number (days since 1970-01-01). */
export function utcDayOfNumber(dayNumber: number): string {
  return utcDayOf(new Date(dayNumber * UTC_DAY_MS));
}

/** The day number (days since 1970-01-01) of a 'YYYY-MM-DD' day; throws on anything else. */
export function utcDayNumberOf(day: string): number {
  const ms = DAY_PATTERN.test(day) ? Date.parse(`${day}T00:00:00Z`) : NaN;
  if (Number.isNaN(ms)) throw new RangeError(`not a YYYY-MM-DD day: ${JSON.stringify(day)}`);
  return ms / UTC_DAY_MS;
}
