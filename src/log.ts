import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type { Config } from './config.js';

export type { Logger };

/** Paths whose values are secrets wherever they appear in a log line. */
const REDACT = [
  'authorization',
  'req.headers.authorization',
  'headers.authorization',
  '*.secret',
  '*.password',
  '*.secretAccessKey',
  'config.API_KEYS',
  'config.S3_SECRET_ACCESS_KEY',
  'config.CLICKHOUSE_PASSWORD',
];

/** The process logger: JSON lines, secrets redacted, pretty when LOG_PRETTY is set. */
export function createLogger(
  config: Pick<Config, 'LOG_LEVEL' | 'LOG_PRETTY'>,
  bindings: Record<string, unknown> = {},
  /** Where JSON lines go instead of stdout (benchmarks write to /dev/null). */
  destination?: DestinationStream,
): Logger {
  const options: LoggerOptions = {
    level: config.LOG_LEVEL,
    base: { pid: process.pid, ...bindings },
    redact: { paths: REDACT, censor: '[redacted]' },
    ...(config.LOG_PRETTY
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } }
      : {}),
  };
  return destination ? pino(options, destination) : pino(options);
}
