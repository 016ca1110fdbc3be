import { describe, expect, it } from 'vitest';
import { QUEUE_DEFAULTS } from '../../queues/queue-defaults.js';

/** The shortest time from the first failure to the last attempt, with the jitter at its lowest. */
function shortestRetryWindowMs(queue: keyof typeof QUEUE_DEFAULTS): number {
  const { attempts = 1, backoff } = QUEUE_DEFAULTS[queue].job;
  if (typeof backoff !== 'object' || backoff.type !== 'exponential') return 0;
  const delay = backoff.delay ?? 0;
  const lowest = 1 - (backoff.jitter ?? 0);
  let total = 0;
  for (let made = 1; made < attempts; made++) total += 2 ** (made - 1) * delay * lowest;
  return total;
}

describe('queue defaults', () => {
  it.each(Object.keys(QUEUE_DEFAULTS) as (keyof typeof QUEUE_DEFAULTS)[])(
    '%s retries for at least four minutes, so an outage of a minute or two fails no job',
    (queue) => {
      expect(shortestRetryWindowMs(queue)).toBeGreaterThanOrEqual(4 * 60_000);
    },
  );
});
