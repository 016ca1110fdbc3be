import type { Redis } from 'ioredis';

/**
 * The queue Redis's `maxmemory-policy`: CONFIG GET, or INFO memory where a managed Redis
 * disables CONFIG; undefined when neither says.
 */
export async function readMaxmemoryPolicy(redis: Redis): Promise<string | undefined> {
  try {
    const reply: unknown = await redis.call('CONFIG', 'GET', 'maxmemory-policy');
    if (Array.isArray(reply) && typeof reply[1] === 'string') return reply[1];
  } catch {
    // CONFIG renamed or disabled (ElastiCache, Memorystore): INFO still tells.
  }
  const info = await redis.info('memory');
  return /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
}
