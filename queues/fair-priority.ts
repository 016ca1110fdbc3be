import type { Redis } from 'ioredis';
import type { QueueName } from '../src/config.js';

/**
 * BullMQ's largest priority (2^21 − 1 in 6.x; lower runs first, 0 means "none" and runs
 * before every prioritized job, which is why every job of a fair queue gets one).
 */
export const MAX_PRIORITY = 2 ** 21 - 1;

/**
 * Once the largest tag handed out reaches this (half the range), the clock starts again at
 * 0 the next time the queue holds no job at all (nothing waiting, prioritized, delayed,
 * active or waiting for children), so no job's priority belongs to the old count. At one
 * tag a job, that is a million jobs (a billion IOCs at 1,000 a job) between two idle moments
 * before the second half of the range is used; past MAX_PRIORITY the tail is clamped (FIFO).
 */
export const RENORMALISE_AT = 2 ** 20;

/** The lane of jobs enqueued without a tenant (the scheduler, the CLI, in-process producers). */
export const DEFAULT_LANE = '(none)';

/** The queues fair unless FAIR_QUEUES says otherwise (in-process producers use the same). */
export const DEFAULT_FAIR_QUEUES: readonly QueueName[] = ['ingest', 'artifacts'];

/**
 * The Redis hash of a queue's fair clock, beside BullMQ's own keys: `vt` (the virtual time,
 * the largest priority a worker started), `top` (the largest tag handed out since the last
 * reset) and `t:<lane>` (the last tag of each lane).
 */
export function fairClockKey(prefix: string, queue: string): string {
  return `${prefix}:${queue}:fair`;
}

/**
 * Hands a lane `count` consecutive start tags: the first is one past the later of the lane's
 * own last tag and the queue's virtual time, so a lane that arrives (or comes back) starts at
 * the current time, interleaving with a backlog instead of queueing behind it, and an idle
 * lane earns no credit. Resets the clock first when it is past half the range and the queue
 * holds no job (see RENORMALISE_AT).
 *
 * KEYS: fair hash, wait, prioritized, active, delayed, waiting-children.
 * ARGV: lane, count, renormalise-at, highest offset of the jobs (their explicit priorities).
 */
const RESERVE_LUA = `
local top = tonumber(redis.call('HGET', KEYS[1], 'top') or '0')
if top >= tonumber(ARGV[3])
  and redis.call('LLEN', KEYS[2]) == 0 and redis.call('ZCARD', KEYS[3]) == 0
  and redis.call('LLEN', KEYS[4]) == 0 and redis.call('ZCARD', KEYS[5]) == 0
  and redis.call('ZCARD', KEYS[6]) == 0 then
  redis.call('DEL', KEYS[1])
  top = 0
end
local vt = tonumber(redis.call('HGET', KEYS[1], 'vt') or '0')
local field = 't:' .. ARGV[1]
local last = tonumber(redis.call('HGET', KEYS[1], field) or '0')
local first = math.max(last, vt) + 1
local stop = first + tonumber(ARGV[2]) - 1
redis.call('HSET', KEYS[1], field, stop)
local highest = stop + tonumber(ARGV[4])
if highest > top then redis.call('HSET', KEYS[1], 'top', highest) end
return first
`;

/**
 * Moves a queue's virtual time up to a started job's priority. A priority above `top` is from
 * before a reset (a worker's late report) and is ignored, so it cannot push newcomers behind
 * the new count. KEYS: fair hash. ARGV: priority. Returns 1 when the time moved.
 */
const ADVANCE_LUA = `
local p = tonumber(ARGV[1])
local top = tonumber(redis.call('HGET', KEYS[1], 'top') or '0')
if p > top then return 0 end
local vt = tonumber(redis.call('HGET', KEYS[1], 'vt') or '0')
if p > vt then
  redis.call('HSET', KEYS[1], 'vt', p)
  return 1
end
return 0
`;

interface FairCommands {
  stowageFairReserve(...args: (string | number)[]): Promise<number>;
  stowageFairAdvance(key: string, priority: number): Promise<number>;
}

/** The connection with the fair-clock scripts defined on it (once per connection). */
function withScripts(redis: Redis): Redis & FairCommands {
  const r = redis as Redis & Partial<FairCommands>;
  if (typeof r.stowageFairReserve !== 'function') {
    redis.defineCommand('stowageFairReserve', { numberOfKeys: 6, lua: RESERVE_LUA });
    redis.defineCommand('stowageFairAdvance', { numberOfKeys: 1, lua: ADVANCE_LUA });
  }
  return r as Redis & FairCommands;
}

/**
 * The BullMQ priority of a job with start tag `tag`: an explicit priority p (the job type's or
 * the enqueue's) defers it by p − 1 turns, so priorities still order jobs but never let one
 * tenant jump ahead of another's fair share; clamped to the range (the tail past it is FIFO).
 */
export function fairPriority(tag: number, explicit: number | undefined): number {
  const offset = explicit === undefined || explicit < 1 ? 0 : Math.floor(explicit) - 1;
  return Math.min(MAX_PRIORITY, tag + offset);
}

/**
 * Start-time fair queuing on BullMQ priorities, the producer's side: each job of a fair queue
 * gets its lane's next virtual start tag as its priority, so workers (taking the lowest
 * priority first) serve the lanes round-robin, whatever backlog one of them holds.
 */
export class FairPriority {
  private readonly redis: Redis & FairCommands;
  private readonly fair: ReadonlySet<QueueName>;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    queues: readonly QueueName[],
  ) {
    this.redis = withScripts(redis);
    this.fair = new Set(queues);
  }

  /** Whether jobs of this queue are dequeued fairly. */
  isFair(queue: QueueName): boolean {
    return this.fair.has(queue);
  }

  /**
   * The first of `count` consecutive start tags for a lane's jobs on a queue (one round trip
   * whatever the count). `maxOffset`: the largest deferral (explicit priority − 1) among them.
   */
  async reserve(queue: QueueName, lane: string, count: number, maxOffset = 0): Promise<number> {
    const base = `${this.prefix}:${queue}:`;
    const first = await this.redis.stowageFairReserve(
      fairClockKey(this.prefix, queue),
      `${base}wait`,
      `${base}prioritized`,
      `${base}active`,
      `${base}delayed`,
      `${base}waiting-children`,
      lane,
      count,
      RENORMALISE_AT,
      maxOffset,
    );
    return Number(first);
  }
}

/**
 * Moves a queue's virtual time up to `priority` (a worker started a job of it); resolves
 * whether it moved. workers/fair-clock.ts calls it, throttled.
 */
export async function advanceVirtualTime(
  redis: Redis,
  prefix: string,
  queue: string,
  priority: number,
): Promise<boolean> {
  return (await withScripts(redis).stowageFairAdvance(fairClockKey(prefix, queue), priority)) === 1;
}

/** The lane of a job: its tenant, or DEFAULT_LANE for work no tenant asked for. */
export function laneOf(tenant: string | undefined): string {
  return tenant ?? DEFAULT_LANE;
}
