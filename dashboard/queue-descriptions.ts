import type { AnyJobDefinition } from '../jobs/job-definition.js';

/**
 * Each queue's description on the board, from its job types' summaries in registry order:
 * `retention cleanup and stale-upload abort`.
 */
export function queueDescriptions(
  definitions: readonly AnyJobDefinition[],
): Record<string, string> {
  const summaries = new Map<string, string[]>();
  for (const d of definitions) {
    const list = summaries.get(d.queue) ?? [];
    list.push(d.summary ?? d.name);
    summaries.set(d.queue, list);
  }
  return Object.fromEntries([...summaries].map(([queue, list]) => [queue, listed(list)]));
}

/** `a`, `a and b`, `a, b and c`. */
function listed(items: string[]): string {
  return items.length <= 1
    ? (items[0] ?? '')
    : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}
