import { z } from 'zod';

/** One queue's job counts, or null when Redis did not answer in time. */
const queueCountsSchema = z
  .strictObject({
    waiting: z.int(),
    active: z.int(),
    delayed: z.int(),
    failed: z.int(),
    prioritized: z.int(),
    'waiting-children': z.int(),
  })
  .nullable();

/**
 * `200` of `GET /status`: seed 001's `status` field (`healthy`, as `/health` says it, or
 * `degraded` when a backend is down), then Stowage's own: each backend, each queue's depth.
 */
export const serviceStatusSchema = z.strictObject({
  status: z.enum(['healthy', 'degraded']),
  service: z.literal('stowage'),
  timestamp: z.string().describe('When the status was read (ISO 8601).'),
  uptime_seconds: z.number().describe("The api process's uptime."),
  backends: z.record(z.string(), z.enum(['up', 'down'])),
  queues: z
    .record(z.string(), queueCountsSchema)
    .describe('Jobs by state per queue; null for a queue whose counts were not read in time.'),
  response_ms: z.number().describe('How long the backend checks and queue reads took.'),
});

/** `GET /status`'s answer. */
export type ServiceStatus = z.output<typeof serviceStatusSchema>;
