import type { Redis } from 'ioredis';
import type { MemoryCeiling } from '../../domain/tenant-quota.js';

/** The queue Redis's memory as last read, against the ceiling. */
export interface MemoryReading {
  usedBytes: number;
  /** The server's maxmemory; 0 when it has none. */
  maxBytes: number;
  /** REDIS_MEMORY_CEILING in bytes; undefined when there is none (a percentage of no maxmemory). */
  ceilingBytes: number | undefined;
  over: boolean;
}

/** How long one INFO reading is trusted: a flood must not cost an INFO per request. */
const READ_EVERY_MS = 1_000;

/**
 * Reads the queue Redis's `used_memory` and `maxmemory` (INFO memory) at most once a second,
 * shared by concurrent callers, and says whether it is past REDIS_MEMORY_CEILING. A failed
 * read keeps the last reading (a Redis away fails the enqueue itself, with its own 503).
 */
export class RedisMemoryGauge {
  private last: { at: number; reading: MemoryReading } | undefined;
  private inFlight: Promise<MemoryReading> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly ceiling: MemoryCeiling,
    private readonly readEveryMs = READ_EVERY_MS,
  ) {}

  /** The latest reading, read again when older than a second. */
  async reading(): Promise<MemoryReading | undefined> {
    const last = this.last;
    if (last && Date.now() - last.at < this.readEveryMs) return last.reading;
    this.inFlight ??= this.read().finally(() => (this.inFlight = undefined));
    try {
      return await this.inFlight;
    } catch {
      return last?.reading;
    }
  }

  private async read(): Promise<MemoryReading> {
    const info = await this.redis.info('memory');
    const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
    const usedBytes = field('used_memory');
    const maxBytes = field('maxmemory');
    const ceilingBytes =
      'bytes' in this.ceiling
        ? this.ceiling.bytes
        : maxBytes > 0
          ? Math.floor((maxBytes * this.ceiling.percent) / 100)
          : undefined;
    const reading = {
      usedBytes,
      maxBytes,
      ceilingBytes,
      over: ceilingBytes !== undefined && usedBytes >= ceilingBytes,
    };
    this.last = { at: Date.now(), reading };
    return reading;
  }
}
