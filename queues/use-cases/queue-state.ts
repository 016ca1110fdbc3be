import type { JobType } from 'bullmq';
import type { QueueName } from '../../src/config.js';
import type { QueueSet } from '../queue-set.js';

/** The job states BullMQ counts, in the column order of `stowage counts`. */
const JOB_STATES = [
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'waiting-children',
  'completed',
  'failed',
] as const satisfies readonly JobType[];

/**
 * The states a queue's counts report. BullMQ 6 has no paused list any more (a paused
 * queue's jobs stay in wait), so `paused` counts the waiting jobs a pause is holding back
 * (prioritized ones included: every job of a fair queue is).
 */
export const COUNT_STATES = [...JOB_STATES, 'paused'] as const;

/** One queue's jobs by state, and whether it is paused. */
export interface QueueCounts {
  queue: QueueName;
  /** Whether workers are held off the queue (`stowage pause`). */
  is_paused: boolean;
  counts: Record<(typeof COUNT_STATES)[number], number>;
}

/** Pauses (workers everywhere stop taking its jobs) or resumes a queue; answers its state. */
export async function setQueuePaused(
  queues: QueueSet,
  input: { queue: QueueName; paused: boolean },
): Promise<{ queue: QueueName; is_paused: boolean }> {
  const queue = queues.get(input.queue);
  if (input.paused) await queue.pause();
  else await queue.resume();
  return { queue: input.queue, is_paused: await queue.isPaused() };
}

/** Every named queue's counts and paused flag. */
export async function readQueueCounts(
  queues: QueueSet,
  names: readonly QueueName[],
): Promise<QueueCounts[]> {
  return Promise.all(
    names.map(async (name) => {
      const queue = queues.get(name);
      const [raw, paused] = await Promise.all([
        queue.getJobCounts(...JOB_STATES),
        queue.isPaused(),
      ]);
      const counts = {
        ...(Object.fromEntries(JOB_STATES.map((s) => [s, raw[s] ?? 0])) as Record<
          (typeof JOB_STATES)[number],
          number
        >),
        paused: paused ? (raw.waiting ?? 0) + (raw.prioritized ?? 0) : 0,
      };
      return { queue: name, is_paused: paused, counts };
    }),
  );
}
