import { z } from 'zod';
import { defineJob } from '../job-definition.js';

/** What retention.cleanup can clean. */
export const RETENTION_TARGETS = ['hot', 'samples', 'activities', 'records', 'detections'] as const;
export type RetentionTarget = (typeof RETENTION_TARGETS)[number];

// A century: a larger window is a typo, not a policy.
const MAX_DAYS = 36_500;

/**
 * Deletes hot-store rows past the hot window (only archived days while archiving is on), log
 * samples past the sample window and activity day partitions past the activity window (only
 * days archived as they are while archiving is on); TA and debug bundles never.
 */
export const retentionCleanupJob = defineJob({
  name: 'retention.cleanup',
  queue: 'maintenance',
  description:
    "Plans, then (approved) executes: deletes hot-store rows older than the hot window (archived days only when archiving is on), log samples older than the sample window, activity day partitions older than the activity window (each only when its archive holds exactly its events), and terminal detections of days older than the detection window (each only when its day's archive holds it as it is; open ones never), logged; dry run reports the same without deleting.",
  scope: 'admin',
  // Bounded batches of deletes; a run past hours waits for its next tick, not a retry.
  timeout: { ms: 6 * 60 * 60_000, retryable: false },
  payload: z
    .strictObject({
      /**
       * Report what would be deleted, delete nothing. The dry run is the plan: it is stored,
       * and the report names its id and digest.
       */
      dry_run: z.boolean().default(false),
      /**
       * Execute this approved plan (`POST /v1/plans/{id}/approve` enqueues it): only the units
       * it lists, each only in the state planned, with the plan's own windows and targets.
       */
      plan_id: z
        .string()
        .regex(/^[0-9]{1,18}$/, 'a plan id (digits)')
        .optional(),
      /**
       * Overrides HOT_RETENTION_DAYS for this run (an operator's custom window; 0 means
       * everything last seen before now). The archive-ledger rule applies all the same.
       */
      hot_days: z.number().int().min(0).max(MAX_DAYS).optional(),
      /**
       * Overrides SAMPLE_RETENTION_DAYS for this run (0: every sample uploaded before now).
       * Protected objects stay protected; SAMPLE_RETENTION_ENABLED=false still wins.
       */
      sample_days: z.number().int().min(0).max(MAX_DAYS).optional(),
      /**
       * Overrides ACTIVITY_RETENTION_DAYS for this run (0: every activity day before today).
       * A day's partition is still dropped only when its archive holds exactly its events.
       */
      activity_days: z.number().int().min(0).max(MAX_DAYS).optional(),
      /**
       * Overrides DETECTION_RETENTION_DAYS for this run (0: every detection day before today).
       * Open detections stay; an archived one goes only at the version its archive holds.
       */
      detection_days: z.number().int().min(0).max(MAX_DAYS).optional(),
      /** Which stores to clean; all by default. */
      targets: z
        .array(z.enum(RETENTION_TARGETS))
        .min(1)
        .default([...RETENTION_TARGETS])
        .transform((t) => [...new Set(t)]),
    })
    .superRefine((p, ctx) => {
      if (p.plan_id === undefined) return;
      // A plan carries its own windows: a window beside it would be silently ignored.
      for (const key of ['hot_days', 'sample_days', 'activity_days', 'detection_days'] as const) {
        if (p[key] !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: 'the plan_id names its own windows',
          });
        }
      }
      if (p.dry_run) {
        ctx.addIssue({
          code: 'custom',
          path: ['dry_run'],
          message: 'a plan is executed for real; its dry run is GET /v1/plans/{id}',
        });
      }
    }),
  fixture: {
    dry_run: true,
    hot_days: 90,
    sample_days: 30,
    activity_days: 90,
    targets: ['hot', 'samples', 'activities'],
  },
  summary: 'retention cleanup',
  schedule: { key: 'RETENTION', cron: '45 2 * * *' },
  operator: { runNow: true, dryRun: true },
});
