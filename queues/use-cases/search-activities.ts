import { z } from 'zod';
import {
  ACTIVITY_EVENT_TYPES,
  ACTIVITY_SOURCES,
  type StoredActivity,
} from '../../src/domain/activity.js';
import { unboundedTimestampSchema } from '../../src/domain/timestamp.js';
import { ValidationError } from '../../src/errors/index.js';
import type {
  ActivityCount,
  ActivityPosition,
  ActivityStore,
} from '../../src/stores/hot/activity-store.js';

/** Most events one search answers. */
export const MAX_ACTIVITY_PAGE = 1_000;
/** Events a search answers when it names no limit. */
export const DEFAULT_ACTIVITY_PAGE = 100;
/** Widest window a search or count may cover, so one request cannot scan the table. */
export const MAX_ACTIVITY_WINDOW_DAYS = 7;
/** The window when the request names no start_time: the day before end_time. */
const DEFAULT_WINDOW_MS = 86_400_000;

const window = {
  start_time: unboundedTimestampSchema
    .optional()
    .meta({ description: `Inclusive; default end_time minus 24 hours` }),
  end_time: unboundedTimestampSchema.optional().meta({
    description: `Exclusive; default now. At most ${MAX_ACTIVITY_WINDOW_DAYS} days after start_time`,
  }),
};

/** The query of `GET /v1/activities` (seed 000's search_activities(source, start_time, limit)). */
export const activitySearchQuerySchema = z.strictObject({
  source: z.enum(ACTIVITY_SOURCES).optional(),
  event_type: z.enum(ACTIVITY_EVENT_TYPES).optional(),
  ...window,
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_ACTIVITY_PAGE)
    .default(DEFAULT_ACTIVITY_PAGE)
    .meta({ description: `1..${MAX_ACTIVITY_PAGE}, default ${DEFAULT_ACTIVITY_PAGE}` }),
  cursor: z
    .string()
    .max(1_024)
    .optional()
    .meta({ description: "The previous page's next_cursor (the same filters and window)" }),
});

/** The query of `GET /v1/activities/stats`. */
export const activityStatsQuerySchema = z.strictObject(window);

/** A page of a search, in (timestamp, event_id, source) order. */
export interface ActivityPage {
  start_time: string;
  end_time: string;
  activities: StoredActivity[];
  /** Pass as `cursor` for the next page; null on the last one. */
  next_cursor: string | null;
}

/** Counts of a window. */
export interface ActivityStats {
  start_time: string;
  end_time: string;
  total: number;
  counts: ActivityCount[];
}

/** The window a request names, defaulted, checked (end after start, at most the cap). */
function windowOf(
  query: { start_time?: Date | undefined; end_time?: Date | undefined },
  now: Date,
): { start: Date; end: Date } {
  const end = query.end_time ?? now;
  const start = query.start_time ?? new Date(end.getTime() - DEFAULT_WINDOW_MS);
  if (end.getTime() <= start.getTime()) {
    throw new ValidationError([{ path: 'end_time', message: 'must be after start_time' }]);
  }
  if (end.getTime() - start.getTime() > MAX_ACTIVITY_WINDOW_DAYS * DEFAULT_WINDOW_MS) {
    throw new ValidationError([
      {
        path: 'start_time',
        message: `the window start_time..end_time must be at most ${MAX_ACTIVITY_WINDOW_DAYS} days`,
      },
    ]);
  }
  return { start, end };
}

/** The opaque cursor of a position: base64url of its JSON. */
export function encodeActivityCursor(position: ActivityPosition): string {
  return Buffer.from(
    JSON.stringify([position.timestamp, position.event_id, position.source]),
  ).toString('base64url');
}

const cursorSchema = z.tuple([z.iso.datetime(), z.string().min(1), z.string().min(1)]);

/** The position a cursor names; a ValidationError naming `cursor` when it is not one. */
export function decodeActivityCursor(cursor: string): ActivityPosition {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  const parsed = cursorSchema.safeParse(value);
  if (!parsed.success) {
    throw new ValidationError([{ path: 'cursor', message: 'not a cursor this api gave' }]);
  }
  const [timestamp, event_id, source] = parsed.data;
  return { timestamp, event_id, source };
}

/**
 * Searches activity events in a bounded window, a page at a time: ordered by (timestamp,
 * event_id, source), each page after the previous one's cursor, so pages neither repeat nor
 * skip an event while others are inserted (a new event before the cursor is not seen).
 */
export async function searchActivities(
  query: z.output<typeof activitySearchQuerySchema>,
  deps: { activities: Pick<ActivityStore, 'search'>; now?: Date },
): Promise<ActivityPage> {
  const { start, end } = windowOf(query, deps.now ?? new Date());
  const after = query.cursor === undefined ? undefined : decodeActivityCursor(query.cursor);
  const rows = await deps.activities.search({
    start,
    end,
    source: query.source,
    event_type: query.event_type,
    after,
    limit: query.limit + 1,
  });
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    start_time: start.toISOString(),
    end_time: end.toISOString(),
    activities: page,
    next_cursor: rows.length > query.limit && last ? encodeActivityCursor(last) : null,
  };
}

/** Event counts per source and type in a bounded window. */
export async function activityStats(
  query: z.output<typeof activityStatsQuerySchema>,
  deps: { activities: Pick<ActivityStore, 'stats'>; now?: Date },
): Promise<ActivityStats> {
  const { start, end } = windowOf(query, deps.now ?? new Date());
  const counts = await deps.activities.stats({ start, end });
  return {
    start_time: start.toISOString(),
    end_time: end.toISOString(),
    total: counts.reduce((sum, c) => sum + c.count, 0),
    counts,
  };
}
