import type { IocSearchFilter } from './types.js';

/** The query string of a search or export (dates as ISO 8601, numbers as text). */
export function iocSearchQueryString(
  filter: IocSearchFilter & { limit?: number; cursor?: string; count?: boolean },
): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(filter) as [
    string,
    string | number | boolean | Date | undefined,
  ][]) {
    if (value === undefined) continue;
    query.set(name, value instanceof Date ? value.toISOString() : String(value));
  }
  const text = query.toString();
  return text === '' ? '' : `?${text}`;
}
