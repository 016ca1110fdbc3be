import { z } from 'zod';
import { defineJob } from '../job-definition.js';

/** Warms the Redis cache from the hot store. */
export const cachePromoteJob = defineJob({
  name: 'cache.promote',
  queue: 'cache',
  description:
    'Warms the Redis cache with hot IOCs from the hot store (confidence and recency thresholds).',
  scope: 'admin',
  // Warming the cache: minutes; the next tick warms it again.
  timeout: { ms: 15 * 60_000, retryable: true },
  payload: z.strictObject({
    /** Overrides HOT_MIN_CONFIDENCE for this run. */
    min_confidence: z.number().min(0).max(1).optional(),
    /** Overrides HOT_MAX_AGE_HOURS for this run. */
    max_age_hours: z
      .number()
      .positive()
      .max(24 * 365)
      .optional(),
    /** Overrides CACHE_PROMOTE_LIMIT for this run. */
    limit: z.number().int().positive().max(1_000_000).optional(),
  }),
  fixture: { min_confidence: 0.8, max_age_hours: 24 },
  summary: 'hot-IOC cache promotion',
  schedule: { key: 'CACHE_WARM', cron: '5 * * * *' },
  operator: { runNow: true, dryRun: false },
});
