import type { z } from 'zod';
import {
  activitySearchQuerySchema,
  activityStatsQuerySchema,
} from '../../queues/use-cases/search-activities.js';
import { parseRecordFlags, parseWith, type RecordFlags } from './record-flags.js';
import { UsageError } from './usage-error.js';

/** What `stowage activities …` was asked, checked with the use cases' own schemas. */
export type ActivityCommand =
  | { command: 'activities-search'; query: z.output<typeof activitySearchQuerySchema> }
  | { command: 'activities-stats'; query: z.output<typeof activityStatsQuerySchema> };

// --since/--until are the window's start_time/end_time (the detections commands' spelling).
const WINDOW = { since: 'start_time', until: 'end_time' };

/** The flags of each `activities` subcommand. */
export const ACTIVITY_FLAGS = {
  search: {
    strings: {
      ...WINDOW,
      source: 'source',
      'event-type': 'event_type',
      limit: 'limit',
      cursor: 'cursor',
    },
  },
  stats: { strings: WINDOW },
} satisfies Record<string, RecordFlags>;

/** Parses `activities search|stats …`; a usage error names the flag. */
export function parseActivityArgs(args: string[]): ActivityCommand {
  const [sub, ...rest] = args;
  if (sub === 'search') {
    const spec = ACTIVITY_FLAGS.search;
    const { fields } = parseRecordFlags('activities search', rest, spec);
    return {
      command: 'activities-search',
      query: parseWith('activities search', spec, activitySearchQuerySchema, fields),
    };
  }
  if (sub === 'stats') {
    const spec = ACTIVITY_FLAGS.stats;
    const { fields } = parseRecordFlags('activities stats', rest, spec);
    return {
      command: 'activities-stats',
      query: parseWith('activities stats', spec, activityStatsQuerySchema, fields),
    };
  }
  throw new UsageError(`activities: expected search or stats, not "${sub ?? ''}"`);
}
