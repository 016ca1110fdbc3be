import type { Redis } from 'ioredis';
import { classifyRedisError } from './classify-redis-error.js';

// KEYS[1] the record; ARGV[1] the tick (ms since the epoch). Forward only: a replica that
// enqueued an older tick late never moves the record back.
const ADVANCE = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) return 1 end
return 0
`;

/**
 * What the scheduler remembers of each schedule in the queue Redis:
 * `<prefix>:schedule:<job>:last`, the latest tick it enqueued (only ever moved forward), and
 * `<prefix>:schedule:<job>:since`, when a scheduler first ran the schedule (the start of the
 * window missed ticks are looked for in when no tick was enqueued yet).
 */
export class ScheduleTickStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(jobName: string, what: 'last' | 'since'): string {
    return `${this.prefix}:schedule:${jobName}:${what}`;
  }

  /** Records that `at`'s tick of a job was enqueued, unless a later one was already. */
  async advance(jobName: string, at: Date): Promise<void> {
    try {
      await this.redis.eval(ADVANCE, 1, this.key(jobName, 'last'), String(at.getTime()));
    } catch (err) {
      throw classifyRedisError(err);
    }
  }

  /** Records when a scheduler first ran a job's schedule; a later call keeps the first. */
  async watchSince(jobName: string, at: Date): Promise<void> {
    try {
      await this.redis.set(this.key(jobName, 'since'), String(at.getTime()), 'NX');
    } catch (err) {
      throw classifyRedisError(err);
    }
  }

  /** The latest tick enqueued and the first watch of each job (undefined: none recorded). */
  async read(
    jobNames: readonly string[],
  ): Promise<Map<string, { last: Date | undefined; since: Date | undefined }>> {
    const out = new Map<string, { last: Date | undefined; since: Date | undefined }>();
    if (jobNames.length === 0) return out;
    try {
      const keys = jobNames.flatMap((j) => [this.key(j, 'last'), this.key(j, 'since')]);
      const values = await this.redis.mget(...keys);
      const date = (v: string | null | undefined) =>
        v === null || v === undefined ? undefined : new Date(Number(v));
      jobNames.forEach((j, i) => {
        out.set(j, { last: date(values[2 * i]), since: date(values[2 * i + 1]) });
      });
      return out;
    } catch (err) {
      throw classifyRedisError(err);
    }
  }
}
