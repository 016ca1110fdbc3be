import { QUEUE_NAMES, type QueueName } from '../config.js';
import {
  COUNT_STATES,
  readQueueCounts,
  setQueuePaused,
  type QueueCounts,
} from '../../queues/use-cases/queue-state.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import type { OperatorContext } from './operator-context.js';
import { writeJson } from './operator-context.js';
import { formatTable } from './table.js';

export { COUNT_STATES, type QueueCounts } from '../../queues/use-cases/queue-state.js';

/** `stowage pause <queue>` / `stowage resume <queue>`: workers everywhere stop or resume taking its jobs. */
export async function pauseCommand(
  ctx: OperatorContext,
  args: { command: 'pause' | 'resume'; queue: QueueName; json: boolean },
): Promise<ExitCode> {
  const state = await setQueuePaused(ctx.queues, {
    queue: args.queue,
    paused: args.command === 'pause',
  });
  if (args.json) writeJson(ctx.io, state);
  else ctx.io.stdout.write(`${args.queue} ${state.is_paused ? 'paused' : 'running'}\n`);
  return EXIT.ok;
}

/** Reads every queue's counts and paused flag. */
export async function readCounts(ctx: OperatorContext): Promise<QueueCounts[]> {
  return readQueueCounts(ctx.queues, QUEUE_NAMES);
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
