import type { Config } from '../config.js';
import { createRoot } from '../composition/root.js';
import type { Root } from '../composition/root.js';
import { createLogger } from '../log.js';
import { pingRedis, withTimeout } from '../connections/redis.js';
import type { AnyJobDefinition } from '../../jobs/job-definition.js';
import type { JobRegistry } from '../../jobs/job-registry.js';
import type { Producer } from '../../queues/producer.js';
import { osUser } from './os-user.js';
import type { QueueSet } from '../../queues/queue-set.js';
import type { ProgressStream } from './progress.js';
import { terminalSafeJson } from './terminal-text.js';

/** Where a command writes: its result on stdout, progress and messages on stderr. */
export interface CliIo {
  /** Text, or the bytes of a download (`artifacts get` without -o). */
  stdout: { write(chunk: string | Uint8Array): unknown };
  stderr: ProgressStream;
}

/**
 * What an operator command talks to: the queue Redis and PostgreSQL of the process
 * configuration, opened with the `cli` role (fail fast, do not wait for a backend).
 */
export interface OperatorContext {
  config: Config;
  deps: Root;
  registry: JobRegistry;
  queues: QueueSet;
  producer: Producer<readonly AnyJobDefinition[]>;
  io: CliIo;
  /** Rejects, naming Redis, when it does not answer within the deadline (BullMQ would wait forever). */
  requireRedis(): Promise<void>;
  close(): Promise<void>;
}

/** How long an operator command waits for a backend before it gives up with exit 1. */
export const BACKEND_DEADLINE_MS = 5_000;

/** Opens the clients of one operator command; the caller closes them. */
export function openOperatorContext(config: Config, io: CliIo): OperatorContext {
  // Operators read the command's own output; the clients' info logs would only interleave.
  const deps = createRoot(
    config,
    createLogger({
      ...config,
      LOG_LEVEL: ['trace', 'debug', 'info'].includes(config.LOG_LEVEL) ? 'warn' : config.LOG_LEVEL,
    }),
    { role: 'cli' },
  );
  const { registry, queues, producer } = deps;
  return {
    config,
    deps,
    registry,
    queues,
    // Jobs an operator enqueues say who did.
    producer: producer.onBehalfOf({ enqueuedBy: `cli:${osUser()}` }),
    io,
    async requireRedis() {
      await pingRedis(deps.redis, BACKEND_DEADLINE_MS).catch((err: unknown) => {
        throw new Error(
          `Redis (REDIS_URL) did not answer: ${err instanceof Error ? err.message : String(err)}`,
        );
      });
    },
    async close() {
      // Closing waits on connections that may never come back; the command's answer stands.
      await withTimeout(deps.close(), BACKEND_DEADLINE_MS, 'closing connections').catch(
        () => undefined,
      );
    },
  };
}

/** Writes a value as indented JSON and a newline (C1 controls escaped too: the same value). */
export function writeJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${terminalSafeJson(JSON.stringify(value, null, 2))}\n`);
}
