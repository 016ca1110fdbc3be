import cron, { type ScheduledTask } from 'node-cron';

/** The longest window looked back into for missed ticks (a week of minutes, a day of seconds). */
const LOOKBACK_STEPS = 7 * 24 * 60;

/** Whether a cron expression has a seconds field (six fields). */
function hasSeconds(expression: string): boolean {
  return expression.trim().split(/\s+/).length === 6;
}

/** Runs `use` with a task of the expression that never starts (for its matcher only). */
function withMatcher<T>(expression: string, use: (task: ScheduledTask) => T): T {
  const task = cron.createTask(expression, () => undefined, { timezone: 'UTC' });
  try {
    return use(task);
  } finally {
    void task.destroy();
  }
}

/**
 * The ticks of a cron expression (UTC) after `after` and at or before `now`, newest first, at
 * most `max` of them, and none further back than a week of minutes (a day of seconds for a
 * six-field expression): what a scheduler that was down missed.
 */
export function missedTicks(expression: string, after: Date, now: Date, max: number): Date[] {
  if (max <= 0) return [];
  const step = hasSeconds(expression) ? 1_000 : 60_000;
  const found: Date[] = [];
  return withMatcher(expression, (task) => {
    let t = Math.floor(now.getTime() / step) * step;
    for (let i = 0; i < LOOKBACK_STEPS && t > after.getTime() && found.length < max; i++) {
      const at = new Date(t);
      if (task.match(at)) found.push(at);
      t -= step;
    }
    return found;
  });
}

/** The next tick of a cron expression (UTC) after now. */
export function nextTick(expression: string): Date | undefined {
  return withMatcher(expression, (task) => task.getNextRuns(1)[0]);
}
