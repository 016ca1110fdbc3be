import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Whose key it is: the API key's name, the route (`POST /v1/jobs/{type}`) and the key. */
export interface IdempotencyRecordId {
  caller: string;
  route: string;
  key: string;
}

/** The answer a request with a key got, kept to give again to its replays. */
export interface StoredAnswer {
  status: number;
  body: Record<string, unknown>;
  location?: string;
}

/**
 * What a claim found:
 * - `proceed`: the key is this request's (new, or claimed by a request with the same body that
 *   has not answered: still running, or failed before enqueueing). Enqueueing again is safe, as
 *   the job ids derive from the key and the body.
 * - `replay`: the same body was answered already; give that answer.
 * - `conflict`: the key is bound to another body.
 */
export type IdempotencyClaim =
  { outcome: 'proceed' } | { outcome: 'replay'; answer: StoredAnswer } | { outcome: 'conflict' };

// KEYS[1] the record; ARGV[1] the request digest, ARGV[2] the window in seconds.
// Atomic: of two requests racing with different bodies, exactly one binds the key.
const CLAIM = `
local digest = redis.call('HGET', KEYS[1], 'digest')
if not digest then
  redis.call('HSET', KEYS[1], 'digest', ARGV[1])
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
  return {'proceed'}
end
if digest ~= ARGV[1] then return {'conflict'} end
local answer = redis.call('HGET', KEYS[1], 'answer')
if answer then return {'replay', answer} end
return {'proceed'}
`;

// KEYS[1] the record; ARGV[1] the digest, ARGV[2] the answer, ARGV[3] the window in seconds.
// The first answer stays (concurrent same-body requests answer alike anyway); the window
// restarts from it.
const ANSWER = `
local digest = redis.call('HGET', KEYS[1], 'digest')
if digest and digest ~= ARGV[1] then return 0 end
redis.call('HSETNX', KEYS[1], 'digest', ARGV[1])
redis.call('HSETNX', KEYS[1], 'answer', ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
`;

// KEYS[1] the record; ARGV[1] the digest. Frees a key whose request failed before answering.
const RELEASE = `
if redis.call('HGET', KEYS[1], 'digest') == ARGV[1] and redis.call('HEXISTS', KEYS[1], 'answer') == 0 then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

/**
 * Idempotency-Key records in the queue Redis: per caller, route and key, the SHA-256 of the
 * request and, once given, its answer, each kept for a fixed window (IDEMPOTENCY_TTL_HOURS)
 * that does not depend on how long the job itself is retained.
 */
export class RedisIdempotencyStore {
  constructor(
    private readonly redis: Redis,
    private readonly options: { prefix: string; ttlSeconds: number },
  ) {}

  /** The Redis key of a record; hashed, so any caller name, route or key fits. */
  redisKey(id: IdempotencyRecordId): string {
    const hash = createHash('sha256')
      .update(JSON.stringify([id.caller, id.route, id.key]))
      .digest('hex');
    return `${this.options.prefix}:idempotency:${hash}`;
  }

  /** Binds the key to the request digest unless bound already; says what to do (see IdempotencyClaim). */
  async claim(id: IdempotencyRecordId, digest: string): Promise<IdempotencyClaim> {
    const [outcome, answer] = (await this.redis.eval(
      CLAIM,
      1,
      this.redisKey(id),
      digest,
      String(this.options.ttlSeconds),
    )) as [string, string | undefined];
    if (outcome === 'conflict') return { outcome: 'conflict' };
    if (outcome === 'replay' && answer !== undefined) {
      return { outcome: 'replay', answer: JSON.parse(answer) as StoredAnswer };
    }
    return { outcome: 'proceed' };
  }

  /** Keeps the answer of a request with this key and digest for the window. */
  async answer(id: IdempotencyRecordId, digest: string, answer: StoredAnswer): Promise<void> {
    await this.redis.eval(
      ANSWER,
      1,
      this.redisKey(id),
      digest,
      JSON.stringify(answer),
      String(this.options.ttlSeconds),
    );
  }

  /**
   * Frees a claim whose request failed before it was answered (a refused payload, a backend
   * down), so the key is as if never sent; an answered key is never freed.
   */
  async release(id: IdempotencyRecordId, digest: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.redisKey(id), digest);
  }
}

/** The SHA-256 of a JSON value with object keys sorted, so key order never changes it. */
export function requestDigest(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
