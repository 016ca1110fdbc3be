import type { JobStatus } from './types.js';

/** A job waited for ended in the failed state; `reason` is its failure reason (code first). */
export class JobFailedError extends Error {
  override readonly name = 'JobFailedError';
  readonly jobId: string;
  readonly reason: string;

  constructor(readonly job: JobStatus) {
    const reason = job.failed_reason ?? 'no reason recorded';
    super(`job ${job.id} (${job.type}) failed after ${job.attempts_made} attempt(s): ${reason}`);
    this.jobId = job.id;
    this.reason = reason;
  }
}
