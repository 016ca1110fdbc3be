import type { Logger } from './log.js';

/** A started Stowage process (api, worker, scheduler, dashboard) that can be stopped gracefully. */
export interface RunningProcess {
  readonly name: string;
  stop(): Promise<void>;
}

/**
 * Logs the reason of a crash (an uncaught exception, an unhandled rejection, an 'error'
 * event nobody listens to) as one fatal JSON line before Node exits. It only watches: the
 * process still dies as it would have, because swallowing an unknown error would leave it
 * running in an unknown state. Backend errors are handled where they arise (each client
 * has an 'error' listener) and never get here.
 */
export function logCrashes(log: Logger): void {
  process.on('uncaughtExceptionMonitor', (err, origin) => {
    log.fatal({ err, origin }, `process crashing: ${origin}`);
  });
}
