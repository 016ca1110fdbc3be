import type { Redis } from 'ioredis';

/** What the token bucket answered: taken, or how long until a token is there. */
export interface TokenAnswer {
  allowed: boolean;
  /** When refused, how long until one token has refilled. */
  retryAfterMs: number;
}

/** A job a tenant enqueued, as the queued-jobs ledger knows it. */
export interface QueuedJobRef {
  queue: string;
  id: string;
}

// KEYS[1] the bucket (hash: tokens, at); ARGV[1] rate a second, ARGV[2] burst, ARGV[3] now ms.
// One round trip, atomic across api replicas: refill for the time since the last take, take
// one token if there is one, otherwise say when there will be. The bucket expires once it
// would be full again, so an idle tenant costs no memory.
const TAKE = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
if now > at then tokens = math.min(burst, tokens + (now - at) * rate / 1000) end
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(math.max(now, at)))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, wait}
`;

/**
 * Per-tenant quota state in the queue Redis: a token bucket per tenant (requests a second)
 * and a ledger of the tenant's jobs that are not known to have finished (queued jobs).
 *
 * The ledger is a sorted set of `queue:id` (score: enqueue time). Adding is idempotent (a
 * replayed enqueue of the same job id adds nothing). Nothing removes a member when its job
 * ends; instead `sweep` drops every member whose job hash is gone or carries `finishedOn`
 * (completed, or failed for good), which the quota gate runs only when the count reaches
 * the limit. So the count may overstate the queued jobs below the limit (harmless) and is
 * exact, as of the sweep, when it matters; its size stays about the limit.
 */
export class RedisQuotaStore {
  constructor(
    private readonly redis: Redis,
    private readonly options: { prefix: string },
  ) {}

  /** Takes one token from the tenant's bucket (rate a second, up to burst at once). */
  async takeToken(
    tenant: string,
    rate: number,
    burst: number,
    now = Date.now(),
  ): Promise<TokenAnswer> {
    const [allowed, wait] = (await this.redis.eval(
      TAKE,
      1,
      this.key(tenant, 'bucket'),
      String(rate),
      String(burst),
      String(now),
    )) as [number, number];
    return { allowed: allowed === 1, retryAfterMs: Number(wait) };
  }

  /** Records jobs the tenant enqueued (idempotent per job). */
  async trackQueued(
    tenant: string,
    jobs: readonly QueuedJobRef[],
    now = Date.now(),
  ): Promise<void> {
    if (jobs.length === 0) return;
    const args: (string | number)[] = [];
    for (const job of jobs) args.push(now, `${job.queue}:${job.id}`);
    await this.redis.zadd(this.key(tenant, 'queued'), ...args);
  }

  /** How many of the tenant's recorded jobs are not known to have finished. */
  async queuedCount(tenant: string): Promise<number> {
    return this.redis.zcard(this.key(tenant, 'queued'));
  }

  /**
   * Drops the recorded jobs that finished or were removed (their BullMQ hash `<prefix>:<queue>:<id>`
   * is gone, or has `finishedOn`), in pipelined pages; returns how many remain.
   */
  async sweep(tenant: string, page = 1_000): Promise<number> {
    const key = this.key(tenant, 'queued');
    for (let start = 0; ;) {
      const members = await this.redis.zrange(key, String(start), String(start + page - 1));
      if (members.length === 0) break;
      const pipeline = this.redis.pipeline();
      for (const member of members) {
        pipeline.hget(`${this.options.prefix}:${member}`, 'finishedOn');
        pipeline.exists(`${this.options.prefix}:${member}`);
      }
      const results = (await pipeline.exec()) ?? [];
      const done = members.filter((_, i) => {
        const [finishedErr, finishedOn] = results[2 * i] ?? [];
        const [existsErr, exists] = results[2 * i + 1] ?? [];
        if (finishedErr || existsErr) return false;
        return finishedOn != null || Number(exists) === 0;
      });
      if (done.length > 0) await this.redis.zrem(key, ...done);
      start += members.length - done.length;
      if (members.length < page) break;
    }
    return this.redis.zcard(key);
  }

  private key(tenant: string, what: 'bucket' | 'queued'): string {
    return `${this.options.prefix}:quota:${tenant}:${what}`;
  }
}
