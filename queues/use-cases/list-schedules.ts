import type { ScheduleView } from '../../src/domain/api/schedules.js';
import type { Config } from '../../src/config.js';
import type { ScheduleTickStore } from '../../src/stores/redis/schedule-tick-store.js';
import type { AnyJobDefinition } from '../../jobs/job-definition.js';
import { resolveSchedules } from '../../jobs/job-schedules.js';
import { nextTick } from '../schedule-clock.js';

/**
 * Each scheduled job type with its cron (from the definitions and the environment), the last
 * tick a scheduler enqueued (from the queue Redis) and the next one (from the cron).
 */
export async function listSchedules(
  input: { schedules: Config['schedules']; definitions: readonly AnyJobDefinition[] },
  deps: { ticks: Pick<ScheduleTickStore, 'read'> },
): Promise<ScheduleView[]> {
  const resolved = resolveSchedules(input.schedules, input.definitions);
  const recorded = await deps.ticks.read(resolved.map((s) => s.jobName));
  return resolved.map((s) => ({
    job: s.jobName,
    variable: s.variable,
    cron: s.cron ?? 'off',
    default: s.defaultCron ?? 'off',
    source: s.source,
    last_tick: recorded.get(s.jobName)?.last?.toISOString() ?? null,
    next_tick: s.cron === null ? null : (nextTick(s.cron)?.toISOString() ?? null),
  }));
}
