import { Redis } from 'ioredis';

/** Who opens a connection decides how it behaves when Redis is away. */
export type Role = 'api' | 'worker' | 'scheduler' | 'dashboard' | 'cli';

/**
 * A Redis connection for a role. The api fails fast (a request should get a 503, not hang);
 * workers and the scheduler wait for Redis to come back (BullMQ needs
 * `maxRetriesPerRequest: null` for blocking connections).
 */
export function createRedis(
  url: string,
  role: Role,
  connectionName: string,
  onError: (err: Error) => void = () => undefined,
): Redis {
  const failFast = role === 'api' || role === 'cli';
  const redis = new Redis(url, {
    connectionName: `stowage:${role}:${connectionName}`,
    maxRetriesPerRequest: failFast ? 1 : null,
    connectTimeout: 5_000,
    enableReadyCheck: true,
    // Reconnect forever with a capped delay: a Redis restart must not kill the process.
    retryStrategy: (attempt) => Math.min(200 * attempt, 2_000),
  });
  // Without a listener ioredis prints every reconnect failure; commands still fail on their own.
  redis.on('error', onError);
  // A connection that drops is reported even when the first reconnect finds Redis back (a quick
  // restart raises no error event at all). ioredis never reconnects after quit().
  redis.on('reconnecting', () =>
    onError(new Error(`connection to Redis lost (${connectionName})`)),
  );
  return redis;
}

/** Answers whether Redis replies to PING within the deadline. */
export async function pingRedis(redis: Redis, timeoutMs = 2_000): Promise<void> {
  await withTimeout(redis.ping(), timeoutMs, 'redis ping');
}

/** Rejects when the promise has not settled within ms. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
