import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type { Config } from './config.js';

export type { Logger };

/** Configuration keys that are credentials or may carry one (a password inside a URL). */
export const SECRET_CONFIG_KEYS = [
  'API_KEYS',
  'REDIS_URL',
  'CACHE_REDIS_URL',
  'cacheRedisUrl',
  'DATABASE_URL',
  'CLICKHOUSE_URL',
  'CLICKHOUSE_PASSWORD',
  'S3_ACCESS_KEY_ID',
  'S3_SECRET_ACCESS_KEY',
] as const;

/** Paths whose values are secrets wherever they appear in a log line. */
export const REDACT = [
  'authorization',
  'req.headers.authorization',
  'headers.authorization',
  '*.secret',
  '*.password',
  '*.secretAccessKey',
  ...SECRET_CONFIG_KEYS.map((key) => `config.${key}`),
];

/** Bytes of log lines a process gathers before it writes them out in one go. */
export const LOG_BUFFER_BYTES = 4096;
/** The longest a line waits in that buffer (ms). */
export const LOG_FLUSH_MS = 100;

/**
 * Where a process writes its JSON lines: a SonicBoom that gathers lines and writes them in one
 * synchronous write once LOG_BUFFER_BYTES have gathered or LOG_FLUSH_MS have passed. Writing
 * every line on its own is, at one line a job, a worker's largest cost after Redis itself
 * (issue 14). The writes stay synchronous: an asynchronous write still in libuv's thread pool
 * when the process exits lands after the lines flushed at exit, out of order (seen in CI).
 * What is buffered is written when the process exits, a crash included; only a kill -9 loses
 * the last LOG_FLUSH_MS of lines.
 */
export function logDestination(dest: number | string = process.stdout.fd): DestinationStream {
  if (dest === process.stdout.fd && stdoutDestination) return stdoutDestination;
  const stream = pino.destination({
    dest,
    sync: true,
    minLength: LOG_BUFFER_BYTES,
    periodicFlush: LOG_FLUSH_MS,
  });
  if (dest === process.stdout.fd) stdoutDestination = stream;
  if (!flushAtExit) {
    flushAtExit = true;
    process.once('exit', flushDestinations);
  }
  openDestinations.add(stream);
  stream.once('close', () => openDestinations.delete(stream));
  return stream;
}

/** Every logger of the process shares one stdout destination, so its lines keep their order. */
let stdoutDestination: ReturnType<typeof pino.destination> | undefined;
const openDestinations = new Set<ReturnType<typeof pino.destination>>();
let flushAtExit = false;

/** Writes what every destination still holds; runs once, as the process exits. */
function flushDestinations(): void {
  for (const stream of openDestinations) {
    try {
      stream.flushSync();
    } catch {
      // A destination not open yet or already gone has nothing to write.
    }
  }
}

/** The process logger: JSON lines, secrets redacted, pretty when LOG_PRETTY is set. */
export function createLogger(
  config: Pick<Config, 'LOG_LEVEL' | 'LOG_PRETTY'>,
  bindings: Record<string, unknown> = {},
  /** Where JSON lines go instead of stdout (tests read them, benchmarks discard them); ignored when LOG_PRETTY. */
  destination?: DestinationStream,
): Logger {
  const options: LoggerOptions = {
    level: config.LOG_LEVEL,
    base: { pid: process.pid, ...bindings },
    redact: { paths: REDACT, censor: '[redacted]' },
  };
  if (config.LOG_PRETTY) {
    return pino({
      ...options,
      transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } },
    });
  }
  return withPrimitivesUnredacted(pino(options, destination ?? logDestination()));
}

type Stringifier = (value: unknown, safe?: unknown) => string;

/**
 * pino hands every value of every line — numbers and strings included — to the redactor of
 * the `*.…` paths, which parses its paths and clones on each call; only an object can hold
 * a path to redact, so a string, number or boolean gets the JSON text that redactor would
 * have written, without it (a third of a worker's logging cost a job, issue 14). Objects
 * still go through it. Without that redactor (another pino), the logger is left as it is.
 */
function withPrimitivesUnredacted(logger: Logger): Logger {
  const { stringifiersSym, wildcardFirstSym } = pino.symbols as unknown as Record<string, symbol>;
  const stringifiers = (logger as unknown as Record<symbol, unknown>)[stringifiersSym!] as
    Record<symbol, Stringifier | undefined> | undefined;
  const wildcard = stringifiers?.[wildcardFirstSym!];
  if (!stringifiers || typeof wildcard !== 'function') return logger;
  stringifiers[wildcardFirstSym!] = (value, safe) => {
    switch (typeof value) {
      case 'string':
      case 'number':
      case 'boolean':
        return JSON.stringify(value);
      default:
        return wildcard(value, safe);
    }
  };
  return logger;
}
