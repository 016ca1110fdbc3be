/** How the client retries a request that met a network error or a 502/503/504. */
export interface RetryOptions {
  /** Retries after the first attempt (0: never retry). */
  retries: number;
  /** Delay before the first retry; doubled each time, with jitter. */
  minDelayMs: number;
  /** Longest delay between attempts, a server's Retry-After included. */
  maxDelayMs: number;
}

/** Four retries over about three seconds: a restarting api or a Redis failover is ridden out. */
export const DEFAULT_RETRY: RetryOptions = { retries: 4, minDelayMs: 200, maxDelayMs: 5_000 };

/**
 * The wait before retry number `retry` (1-based): exponential with full jitter over its upper
 * half, or the server's Retry-After (seconds) when it gave one, both capped by maxDelayMs.
 */
export function retryDelayMs(
  policy: RetryOptions,
  retry: number,
  retryAfter: string | null = null,
): number {
  const asked = retryAfter === null ? NaN : Number(retryAfter) * 1000;
  if (Number.isFinite(asked) && asked >= 0) return Math.min(asked, policy.maxDelayMs);
  const ceiling = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** (retry - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** Resolves after ms, or rejects with the signal's reason once it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
