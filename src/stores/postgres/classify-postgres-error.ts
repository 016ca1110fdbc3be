import {
  PermanentError,
  SaturationError,
  TransientError,
  type ErrorContext,
} from '../../errors/index.js';
import { NETWORK_ERROR_CODES } from '../../errors/network-codes.js';

// What pg itself throws, without a code, when a connection fails or dies.
const CONNECTION_MESSAGE =
  /connection terminated|timeout exceeded when trying to connect|connection timeout|not queryable|the database system is (starting up|shutting down|in recovery mode)/i;

// SQLSTATE classes where the statement itself is wrong, so a retry gets the same answer:
// data exceptions, integrity violations, syntax/access rules, authorization, unknown
// database or schema, unsupported features, cardinality and program limits.
const PERMANENT_CLASSES = new Set([
  '0A',
  '21',
  '22',
  '23',
  '28',
  '2B',
  '3D',
  '3F',
  '42',
  '44',
  '54',
]);

// Classes a retry can outlive: connection exceptions, insufficient resources, operator
// intervention (admin shutdown, cancelled statement), system errors.
const UNAVAILABLE_CLASSES = new Set(['08', '53', '57', '58']);

// "relation does not exist", "schema does not exist": `stowage init` has not run on this
// schema (or someone dropped a table) — the server's state, not the request, is wrong.
const SCHEMA_MISSING_CODES = new Set(['42P01', '3F000']);

// Serialization failures, deadlocks and lock timeouts: retrying is the documented remedy.
const BUSY_CODES = new Set(['40001', '40P01', '55P03', '55006']);

// The server or the pool out of room: too_many_connections (53300), out_of_memory (53200),
// lock_not_available (55P03: a lock_timeout passed), and pg-pool's wait for a free client
// timing out (its message, no code). Sending less for a while helps; retrying at once does not.
const SATURATION_CODES = new Set(['53300', '53200', '55P03']);
const POOL_EXHAUSTED_MESSAGE = /timeout exceeded when trying to connect/i;

/** What PostgreSQL is left alone for when saturated. */
const POSTGRES_SATURATION_DELAY_MS = 1_000;

/** Maps an error from `pg` onto a PermanentError or a TransientError; unknown errors are transient. */
export function classifyPostgresError(err: unknown): PermanentError | TransientError {
  if (err instanceof PermanentError || err instanceof TransientError) return err;
  const e = (err ?? {}) as Record<string, unknown>;
  const message = err instanceof Error ? err.message : String(err);
  const code = typeof e.code === 'string' ? e.code : undefined;
  const context: ErrorContext = { backend: 'postgres' };
  const sqlState = code !== undefined && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  if (sqlState !== undefined) context.sqlState = sqlState;
  for (const key of ['schema', 'table', 'column', 'constraint'] as const) {
    if (typeof e[key] === 'string') context[key] = e[key];
  }
  const options = { cause: err };

  if (
    (sqlState !== undefined && SATURATION_CODES.has(sqlState)) ||
    (sqlState === undefined && POOL_EXHAUSTED_MESSAGE.test(message))
  ) {
    return new SaturationError(
      sqlState === '55P03' ? 'backend_busy' : 'backend_unavailable',
      `PostgreSQL saturated, slowing down${sqlState ? ` (${sqlState})` : ''}: ${message}`,
      context,
      { ...options, retryAfterMs: POSTGRES_SATURATION_DELAY_MS },
    );
  }
  if ((code !== undefined && NETWORK_ERROR_CODES.has(code)) || CONNECTION_MESSAGE.test(message)) {
    return new TransientError(
      'backend_unavailable',
      `PostgreSQL unavailable: ${message}`,
      context,
      options,
    );
  }
  if (sqlState === undefined) {
    return new TransientError('backend_error', `PostgreSQL error: ${message}`, context, options);
  }
  const sqlClass = sqlState.slice(0, 2);
  if (UNAVAILABLE_CLASSES.has(sqlClass)) {
    return new TransientError(
      'backend_unavailable',
      `PostgreSQL unavailable (${sqlState}): ${message}`,
      context,
      options,
    );
  }
  if (BUSY_CODES.has(sqlState) || sqlClass === '40') {
    return new TransientError(
      'backend_busy',
      `PostgreSQL conflict, retry (${sqlState}): ${message}`,
      context,
      options,
    );
  }
  if (SCHEMA_MISSING_CODES.has(sqlState)) {
    return new PermanentError(
      'schema_not_ready',
      `PostgreSQL schema is missing a table or schema (${sqlState}), run \`stowage init\`: ${message}`,
      context,
      options,
    );
  }
  if (PERMANENT_CLASSES.has(sqlClass)) {
    return new PermanentError(
      'backend_rejected',
      `PostgreSQL rejected the statement (${sqlState}): ${message}`,
      context,
      options,
    );
  }
  return new TransientError(
    'backend_error',
    `PostgreSQL error (${sqlState}): ${message}`,
    context,
    options,
  );
}
