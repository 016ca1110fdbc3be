import type { DefaultJobOptions } from 'bullmq';
import type { QueueName } from '../src/config.js';

/** How a queue treats its jobs unless a job type says otherwise. */
export interface QueueDefaults {
  job: DefaultJobOptions;
  /** How long a worker holds a job before another may take it as stalled (renewed while alive). */
  lockDuration: number;
  /** Jobs one worker process runs at once on this queue. */
  concurrency: number;
}

const HOUR = 3600;
const DAY = 24 * HOUR;

/** Retention: completed jobs for a day (at most 10,000), failed ones for a week to retry. */
const retention = {
  removeOnComplete: { age: DAY, count: 10_000 },
  removeOnFail: { age: 7 * DAY, count: 50_000 },
} as const;

/**
 * Exponential backoff with jitter, so retries after an outage do not arrive in lockstep.
 * Every queue's attempts span minutes even at the shortest jitter: a backend that is away
 * for a minute or two must not fail a job for good (a unit test holds each queue to it).
 */
const backoff = (delay: number) => ({ type: 'exponential' as const, delay, jitter: 0.5 });

/** Per-queue defaults, chosen for the work each queue carries. */
export const QUEUE_DEFAULTS: Record<QueueName, QueueDefaults> = {
  ingest: {
    job: { attempts: 10, backoff: backoff(1_000), ...retention },
    lockDuration: 60_000,
    concurrency: 8,
  },
  cache: {
    job: { attempts: 10, backoff: backoff(1_000), ...retention },
    lockDuration: 60_000,
    concurrency: 4,
  },
  artifacts: {
    job: { attempts: 12, backoff: backoff(2_000), ...retention },
    lockDuration: 120_000,
    concurrency: 2,
  },
  archive: {
    job: { attempts: 8, backoff: backoff(5_000), ...retention },
    lockDuration: 300_000,
    concurrency: 1,
  },
  maintenance: {
    job: { attempts: 8, backoff: backoff(5_000), ...retention },
    lockDuration: 300_000,
    concurrency: 1,
  },
};
