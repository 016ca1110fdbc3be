import type { z } from 'zod';
import type { QueueName, Scope } from '../src/config.js';
import type { Logger } from '../src/log.js';
import type { JobMetrics } from '../src/metrics.js';
import type { JobMeta } from './job-meta.js';

/** Options a job type may set over its queue's defaults. */
export interface JobTypeOptions {
  attempts?: number;
  backoff?: { type: 'exponential' | 'fixed'; delay: number; jitter?: number };
  priority?: number;
}

/**
 * How long one attempt of a job type may run (its maximum duration) and what happens past
 * it: the handler's signal aborts, and the attempt fails with `job_timeout`.
 */
export interface JobTimeout {
  /** The maximum duration of one attempt (ms); a job may carry its own (EnqueueOptions.timeoutMs). */
  readonly ms: number;
  /**
   * Past it, the attempt is retried while attempts remain (true) or the job fails for good
   * (false: work that would only time out again, or that must not be left half done).
   */
  readonly retryable: boolean;
}

/** The maximum duration of a type that declares none: long enough for any batch, not for ever. */
export const DEFAULT_JOB_TIMEOUT: JobTimeout = { ms: 30 * 60_000, retryable: true };

/** The longest maximum duration a job may carry (7 days): a bound, not a target. */
export const MAX_JOB_TIMEOUT_MS = 7 * 24 * 60 * 60_000;

/** When the scheduler enqueues a job type, unless the environment says otherwise. */
export interface JobSchedule {
  /**
   * The environment suffix: `ARCHIVE` is read from `SCHEDULE_ARCHIVE`. Upper case, digits
   * and `_`; one definition a key.
   */
  readonly key: string;
  /** The default: a cron expression (UTC, 5 or 6 fields), or `off` until an operator sets one. */
  readonly cron: string;
}

/** What an operator may do with a job type outside its schedule. */
export interface OperatorActions {
  /** Listed for `POST /v1/maintenance/{job}` and `stowage run <job>`. */
  readonly runNow: boolean;
  /**
   * Its payload takes `dry_run` (report only, change nothing); the contract test checks the
   * schema agrees.
   */
  readonly dryRun: boolean;
}

/**
 * Records a job type keeps out of Redis (a claim check): the producer stages them, once
 * validated, in the batch store and enqueues `{ batch: { digest, records } }` instead, so an
 * enqueued or retained job holds a reference, never the data. The worker reads the staged
 * records back without validating them again; a payload no producer staged is refused.
 */
export interface ClaimCheck<Input> {
  /** What the records are (`iocs`): the batch store's kind. */
  readonly kind: string;
  /**
   * The records to stage from a validated payload, in the canonical form the handler reads
   * (for IOCs: merged per key, in key order). The whole payload becomes the reference, so a
   * claim-checked type carries nothing but its records.
   */
  records(payload: Input): readonly unknown[];
}

/**
 * A job type, defined once: what the API validates with, what producers enqueue with, what
 * the scheduler ticks and what the worker runs. Pure: no SDK imports, so the API loads it
 * cheaply.
 */
export interface JobDefinition<
  Name extends string = string,
  Schema extends z.ZodType = z.ZodType,
  Stored extends z.ZodType = Schema,
> {
  /** `noun.verb`, e.g. `iocs.insert`. */
  readonly name: Name;
  readonly queue: QueueName;
  /** One sentence for the dashboard, the OpenAPI document and the README. */
  readonly description: string;
  readonly payload: Schema;
  /**
   * What the worker parses when it differs from what producers validate (a claim-checked
   * type: the staged reference, or an inline payload of an older producer). Default: payload.
   */
  readonly stored?: Stored;
  /** Keeps the records out of Redis (see ClaimCheck); the producer needs a batch store. */
  readonly claimCheck?: ClaimCheck<z.output<Schema>>;
  /** The API scope a key needs to enqueue this type through the generic route. */
  readonly scope: Scope;
  readonly options?: JobTypeOptions;
  /** The maximum duration of one attempt; unset: DEFAULT_JOB_TIMEOUT. */
  readonly timeout?: JobTimeout;
  /**
   * Derives a stable key from the payload: two enqueues with the same key are one job.
   * An explicit `Idempotency-Key` wins over it.
   */
  idempotencyKey?(payload: z.output<Schema>): string;
  /**
   * Parts of a payload only in-process code may enqueue (a spool file, an admin overwrite):
   * the issues, each naming its field. A producer refuses them unless told the payload comes
   * from a trusted caller, which the generic API routes never say.
   */
  reserved?(payload: z.output<Schema>): { path: string; message: string }[];
  /**
   * Search tags of a job from its validated payload (`source:<id>`, `artifact:<key>`,
   * `ioc:<value>`): recorded under `$meta`, bounded in number and length (jobs/job-meta.ts).
   */
  tags?(payload: z.output<Schema>): string[];
  /** A valid example payload; the contract test parses it. */
  readonly fixture: z.input<Schema>;
  /**
   * A few words for its queue's dashboard description (`retention cleanup`); the queue's
   * description lists those of its types.
   */
  readonly summary?: string;
  /** Enqueued on cron by the scheduler; unset: never scheduled. */
  readonly schedule?: JobSchedule;
  /** What an operator may run by hand; unset: nothing (enqueue through the generic route). */
  readonly operator?: OperatorActions;
}

/** An environment suffix: `SCHEDULE_<KEY>`. */
const SCHEDULE_KEY = /^[A-Z][A-Z0-9_]*$/;

/** Declares a job type, keeping its literal name in the type. */
export function defineJob<
  const Name extends string,
  Schema extends z.ZodType,
  Stored extends z.ZodType = Schema,
>(definition: JobDefinition<Name, Schema, Stored>): JobDefinition<Name, Schema, Stored> {
  if (!/^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/.test(definition.name)) {
    throw new Error(`job name "${definition.name}" must be noun.verb in lower case`);
  }
  const timeout = definition.timeout;
  if (
    timeout &&
    !(Number.isInteger(timeout.ms) && timeout.ms > 0 && timeout.ms <= MAX_JOB_TIMEOUT_MS)
  ) {
    throw new Error(
      `job "${definition.name}": timeout.ms must be a whole number of ms from 1 to ${MAX_JOB_TIMEOUT_MS}`,
    );
  }
  if (definition.schedule && !SCHEDULE_KEY.test(definition.schedule.key)) {
    throw new Error(
      `job "${definition.name}": schedule key "${definition.schedule.key}" must be upper case, digits and _`,
    );
  }
  return definition;
}

/** A definition of any name and schema. */
export type AnyJobDefinition = JobDefinition<string, z.ZodType, z.ZodType>;

/** The payload a handler receives: the stored form, parsed (the producer's, validated, by default). */
export type PayloadOf<D> =
  D extends JobDefinition<string, z.ZodType, infer S> ? z.output<S> : never;

/** The payload a producer hands in (before defaults and normalisation). */
export type InputOf<D> = D extends JobDefinition<string, infer S, z.ZodType> ? z.input<S> : never;

/** Per-job things a handler gets besides its payload. */
export interface JobContext {
  readonly jobId: string;
  readonly name: string;
  readonly queue: QueueName;
  /** 1 on the first run, 2 on the first retry, … */
  readonly attempt: number;
  readonly maxAttempts: number;
  /** A logger bound to queue, job id, type and attempt. */
  readonly log: Logger;
  /** Counters of the work done (bytes, rows), labelled with this job's queue and type. */
  readonly metrics: JobMetrics;
  /**
   * Aborted when the attempt passes its maximum duration, when the job is cancelled, or when
   * the worker shuts down past its grace period; stop promptly (the runtime stops waiting
   * for the handler soon after). Its `reason` is the error the attempt ends with.
   */
  readonly signal: AbortSignal;
  /** Reports progress (a percentage or a structured object); shown in the dashboard. */
  progress(value: number | Record<string, unknown>): Promise<void>;
  /** State saved by an earlier attempt of this job (resumable work), or undefined. */
  readonly checkpoint: unknown;
  /** Saves state a retry of this job will find in `checkpoint`. */
  saveCheckpoint(state: unknown): Promise<void>;
  /** Return values of this job's children in a flow, keyed by child job id. */
  childResults(): Promise<Record<string, unknown>>;
  /** Who enqueued the job, its tenant and tags (empty for a job of an older producer). */
  readonly meta: JobMeta;
  /**
   * Adds a line to the job's own log, the one the dashboard's Logs tab shows: a notable step
   * a person following the job wants to see (upload started, batch merged, a day archived).
   * Redacted (jobs/redact.ts), capped per job, and best effort: it never waits for Redis
   * and never fails the job.
   */
  note(message: string): void;
}

/** What a worker runs for one job. */
export type Handler<D, Result = unknown> = (
  payload: PayloadOf<D>,
  ctx: JobContext,
) => Promise<Result>;

/** Builds a handler from the dependencies it needs (Temporal's `createActivities(deps)`). */
export type HandlerFactory<D, Deps> = (deps: Deps) => Handler<D>;
