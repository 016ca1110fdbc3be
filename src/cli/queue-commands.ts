import type { JobType } from 'bullmq';
import { QUEUE_NAMES, type QueueName } from '../config.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import type { OperatorContext } from './operator-context.js';
import { writeJson } from './operator-context.js';
import { formatTable } from './table.js';

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
 * The columns of `stowage counts`. BullMQ 6 has no paused list any more (a paused queue's
 * jobs stay in wait), so `paused` counts the waiting jobs a pause is holding back.
 */
export const COUNT_STATES = [...JOB_STATES, 'paused'] as const;

/** One queue's line of `stowage counts`. */
export interface QueueCounts {
  queue: QueueName;
  /** Whether workers are held off the queue (`stowage pause`). */
  is_paused: boolean;
  counts: Record<(typeof COUNT_STATES)[number], number>;
}

/** `stowage pause <queue>` / `stowage resume <queue>`: workers everywhere stop or resume taking its jobs. */
export async function pauseCommand(
  ctx: OperatorContext,
  args: { command: 'pause' | 'resume'; queue: QueueName; json: boolean },
): Promise<ExitCode> {
  const queue = ctx.queues.get(args.queue);
  if (args.command === 'pause') await queue.pause();
  else await queue.resume();
  const paused = await queue.isPaused();
  if (args.json) writeJson(ctx.io, { queue: args.queue, is_paused: paused });
  else ctx.io.stdout.write(`${args.queue} ${paused ? 'paused' : 'running'}\n`);
  return EXIT.ok;
}

/** Reads every queue's counts and paused flag. */
export async function readCounts(ctx: OperatorContext): Promise<QueueCounts[]> {
  return Promise.all(
    QUEUE_NAMES.map(async (name) => {
      const queue = ctx.queues.get(name);
      const [raw, paused] = await Promise.all([
        queue.getJobCounts(...JOB_STATES),
        queue.isPaused(),
      ]);
      const counts = {
        ...(Object.fromEntries(JOB_STATES.map((s) => [s, raw[s] ?? 0])) as Record<
          (typeof JOB_STATES)[number],
          number
        >),
        paused: paused ? (raw.waiting ?? 0) : 0,
      };
      return { queue: name, is_paused: paused, counts };
    }),
  );
}

/** Formats counts as the `stowage counts` table. */
export function formatCounts(rows: readonly QueueCounts[]): string {
  return formatTable(
    ['QUEUE', 'STATE', ...COUNT_STATES.map((s) => s.toUpperCase())],
    rows.map((r) => [
      r.queue,
      r.is_paused ? 'paused' : 'running',
      ...COUNT_STATES.map((s) => String(r.counts[s])),
    ]),
  );
}

/** `stowage counts`: per queue, its jobs by state and whether it is paused. */
export async function countsCommand(
  ctx: OperatorContext,
  args: { json: boolean },
): Promise<ExitCode> {
  const rows = await readCounts(ctx);
  if (args.json) writeJson(ctx.io, rows);
  else ctx.io.stdout.write(`${formatCounts(rows)}\n`);
  return EXIT.ok;
}
