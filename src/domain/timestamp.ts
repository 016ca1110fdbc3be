import { z } from 'zod';

const OFFSET = /(?:[Zz]|[+-]\d{2}:\d{2})$/;
const TIMESTAMP_MESSAGE = 'must be an ISO 8601 timestamp such as 2024-01-01T12:30:00Z';

/**
 * An ISO 8601 / RFC 3339 date-time, or a Date. A value without an offset is read as UTC,
 * not local time: the seed's Python collectors send `datetime.utcnow().isoformat()`, which
 * has none. Precision beyond milliseconds (Python's microseconds) is dropped.
 */
export const timestampSchema = z
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
