import {
  PermanentError,
  SaturationError,
  TransientError,
  type ErrorContext,
} from '../../errors/index.js';
import { NETWORK_ERROR_CODES } from '../../errors/network-codes.js';

// What @clickhouse/client throws for a request timeout or a dropped socket.
const CONNECTION_MESSAGE = /^Timeout error\.|socket hang up|other side closed/i;

// Server error codes (ErrorCodes.cpp) for a statement that is wrong in itself: parse and
// type errors, unknown names, bad data, access and authentication failures.
const PERMANENT_CODES = new Set([
  6, 10, 16, 20, 26, 27, 33, 34, 35, 36, 38, 41, 42, 43, 44, 46, 47, 48, 53, 57, 60, 62, 69, 70, 72,
  73, 80, 81, 82, 115, 117, 131, 164, 179, 184, 192, 193, 194, 215, 386, 497, 516,
]);

// Overload and timeouts: the server is there but cannot take the work now.
const BUSY_CODES = new Set([159, 160, 202, 241, 252, 394]);

// Pressure the server asks to be relieved of: TOO_MANY_PARTS (252: inserts outpace merges),
// TOO_MANY_SIMULTANEOUS_QUERIES (202), MEMORY_LIMIT_EXCEEDED (241). Sending less helps.
const SATURATION_CODES = new Set([202, 241, 252]);

/** What ClickHouse is left alone for when saturated: merges need seconds, not milliseconds. */
const CLICKHOUSE_SATURATION_DELAY_MS = 2_000;

// UNKNOWN_TABLE, UNKNOWN_DATABASE: `stowage init` has not run (or a table was dropped).
const SCHEMA_MISSING_CODES = new Set([60, 81]);

// The server (or one it talks to) cannot be reached.
const UNAVAILABLE_CODES = new Set([203, 209, 210, 279, 425]);

/**
 * The server's numeric error code. Read from the message too, because 18.16 words its
 * errors ("Code: 62, e.displayText() = …") in a way the client's parser does not match.
 */
export function clickHouseErrorCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && /^\d+$/.test(code)) return Number(code);
  if (typeof message === 'string') {
    const match = /\bCode: (\d+)[.,]/.exec(message);
    if (match?.[1] !== undefined) return Number(match[1]);
  }
  return undefined;
}

/** Maps an error from `@clickhouse/client` onto a PermanentError or a TransientError; unknown errors are transient. */
export function classifyClickHouseError(err: unknown): PermanentError | TransientError {
  if (err instanceof PermanentError || err instanceof TransientError) return err;
  const message = err instanceof Error ? err.message : String(err);
  // Server messages end with the query's tail and a stack marker; the first line is enough.
  const summary = message.split('\n')[0] ?? message;
  const nodeCode = (err as { code?: unknown } | null)?.code;
  const context: ErrorContext = { backend: 'clickhouse' };
  const options = { cause: err };

  if (
    (typeof nodeCode === 'string' && NETWORK_ERROR_CODES.has(nodeCode)) ||
    CONNECTION_MESSAGE.test(message)
  ) {
    return new TransientError(
      'backend_unavailable',
      `ClickHouse unavailable: ${summary}`,
      context,
      options,
    );
  }
  const code = clickHouseErrorCode(err);
  if (code === undefined) {
    return new TransientError('backend_error', `ClickHouse error: ${summary}`, context, options);
  }
  context.clickhouseCode = code;
  if (UNAVAILABLE_CODES.has(code)) {
    return new TransientError(
      'backend_unavailable',
      `ClickHouse unavailable: ${summary}`,
      context,
      options,
    );
  }
  if (SATURATION_CODES.has(code)) {
    return new SaturationError(
      'backend_busy',
      `ClickHouse saturated, slowing down: ${summary}`,
      context,
      { ...options, retryAfterMs: CLICKHOUSE_SATURATION_DELAY_MS },
    );
  }
  if (BUSY_CODES.has(code)) {
    return new TransientError(
      'backend_busy',
      `ClickHouse busy, retry: ${summary}`,
      context,
      options,
    );
  }
  if (SCHEMA_MISSING_CODES.has(code)) {
    return new PermanentError(
      'schema_not_ready',
      `ClickHouse has no such table or database, run \`stowage init\`: ${summary}`,
      context,
      options,
    );
  }
  if (PERMANENT_CODES.has(code)) {
    return new PermanentError(
      'backend_rejected',
      `ClickHouse rejected the statement: ${summary}`,
      context,
      options,
    );
  }
  return new TransientError('backend_error', `ClickHouse error: ${summary}`, context, options);
}
