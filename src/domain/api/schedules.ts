import { z } from 'zod';

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
