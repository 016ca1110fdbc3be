import { SaturationError, TransientError } from '../../errors/index.js';
import { NETWORK_ERROR_CODES } from '../../errors/network-codes.js';

// What ioredis rejects a command with when the connection is away or was lost under it:
// the request-retry limit of a fail-fast connection, a command (or a MULTI) aborted by a
// connection close, a closed or unwritable stream, a connect timeout.
const CONNECTION_MESSAGE =
  /reached the max retries per request limit|command aborted due to connection close|connection is closed|stream isn't writeable|connect etimedout|redis ping timed out/i;

// Replies of a Redis that is there but cannot serve yet: loading its AOF or RDB after a
// restart, a replica without its primary, a busy script, a cluster slot moving.
const UNAVAILABLE_REPLY = /^(LOADING|MASTERDOWN|BUSY|TRYAGAIN|CLUSTERDOWN|READONLY)\b/;

/** True when the error says Redis is unreachable or not ready, which a retry can outlive. */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && NETWORK_ERROR_CODES.has(code)) return true;
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    CONNECTION_MESSAGE.test(err.message) ||
    UNAVAILABLE_REPLY.test(err.message)
  );
}

// A noeviction Redis at maxmemory refuses writes: full, not away. Sending less helps.
const OOM_REPLY = /^OOM\b/;

/** True for Redis's `OOM command not allowed when used memory > 'maxmemory'` reply. */
export function isRedisOutOfMemory(err: unknown): boolean {
  return err instanceof Error && OOM_REPLY.test(err.message);
}

/**
 * A Redis connectivity error as a transient `backend_unavailable` (so the api answers 503
 * and the caller retries with the same Idempotency-Key), an OOM reply as a SaturationError
 * (`backend_busy`, 503); any other error unchanged.
 */
export function classifyRedisError(err: unknown): unknown {
  if (isRedisOutOfMemory(err)) {
    return new SaturationError(
      'backend_busy',
      `Redis is out of memory (maxmemory): ${(err as Error).message}`,
      { backend: 'redis' },
      { cause: err, retryAfterMs: 1_000 },
    );
  }
  if (!isRedisUnavailable(err)) return err;
  return new TransientError(
    'backend_unavailable',
    `Redis unavailable: ${(err as Error).message}`,
    { backend: 'redis' },
    { cause: err },
  );
}
