import type { JobStatus } from './types.js';

/** A job waited for did not finish within the deadline; `job` is its last status seen. */
export class JobWaitTimeoutError extends Error {
  override readonly name = 'JobWaitTimeoutError';

  constructor(
    readonly job: JobStatus,
    readonly timeoutMs: number,
  ) {
    super(`job ${job.id} (${job.type}) still ${job.state} after ${timeoutMs} ms`);
  }
}
