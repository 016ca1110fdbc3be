import { activityStats, searchActivities } from '../../queues/use-cases/search-activities.js';
import { ACTIVITY_FLAGS, type ActivityCommand } from './activity-args.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { writeJson, type OperatorContext } from './operator-context.js';
import { asUsage } from './record-flags.js';

/** `stowage activities search|stats`: activity events of a window, from the hot store. */
export async function activityCommand(
  ctx: OperatorContext,
  cmd: ActivityCommand,
): Promise<ExitCode> {
  const store = { activities: ctx.deps.activities };
  await ctx.deps.checkSchema(); // no DDL from an operator command: `stowage init` owns the schema
  // The window's bounds (end after start, at most 7 days) and the cursor are the use case's checks.
  const answer =
    cmd.command === 'activities-search'
      ? await asUsage('activities search', ACTIVITY_FLAGS.search, () =>
          searchActivities(cmd.query, store),
        )
      : await asUsage('activities stats', ACTIVITY_FLAGS.stats, () =>
          activityStats(cmd.query, store),
        );
  writeJson(ctx.io, answer);
  return EXIT.ok;
}
