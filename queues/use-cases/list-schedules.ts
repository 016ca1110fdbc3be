import { z } from 'zod';
import type { Config } from '../../src/config.js';
import type { ScheduleTickStore } from '../../src/stores/redis/schedule-tick-store.js';
import type { AnyJobDefinition } from '../../jobs/job-definition.js';
import { resolveSchedules } from '../../jobs/job-schedules.js';
import { nextTick } from '../schedule-clock.js';

/** One schedule as `GET /v1/schedules`, `stowage schedules list` and the dashboard show it. */
export const scheduleViewSchema = z.strictObject({
  job: z.string(),
  variable: z.string().describe('The environment variable that sets it (SCHEDULE_<KEY>).'),
  cron: z.string().describe('The effective cron expression (UTC), or `off`.'),
  default: z.string().describe("The definition's default, or `off`."),
  source: z.enum(['environment', 'default']),
  last_tick: z.iso
    .datetime()
    .nullable()
    .describe('The latest tick a scheduler enqueued (from Redis); null: none recorded.'),
  next_tick: z.iso
    .datetime()
    .nullable()
    .describe('The next tick from the cron expression; null when it is off.'),
});
export type ScheduleView = z.output<typeof scheduleViewSchema>;

/** `200` of `GET /v1/schedules`. */
export const schedulesSchema = z.strictObject({ schedules: z.array(scheduleViewSchema) });

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
