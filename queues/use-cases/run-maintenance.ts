import { z } from 'zod';
import type { QueueName } from '../../src/config.js';
import { PermanentError, ValidationError } from '../../src/errors/index.js';
import type { AnyJobDefinition } from '../../jobs/job-definition.js';
import type { JobRegistry } from '../../jobs/job-registry.js';
import { maintenanceJobs, type MaintenanceDefinition } from '../../jobs/maintenance-jobs.js';
import type { Producer } from '../producer.js';

/** What an operator asks: run this maintenance job now, with this payload. */
export interface RunMaintenanceInput {
  /** The job type, e.g. `retention.cleanup`. */
  readonly job: string;
  /**
   * The job's payload, a JSON object (unset: `{}`); a `dry_run` in it is the caller's own
   * choice (the API's body).
   */
  readonly payload?: unknown;
  /**
   * true: report only, whatever the payload says (the CLI's --dry-run). false: the caller's
   * default is a real run; a `dry_run` in the payload still wins. Unset: the payload must
   * say, for a job that can dry-run — a destructive run is never the default of a missing
   * or mistyped field.
   */
  readonly dryRun?: boolean | undefined;
}

/** A maintenance run checked against its definition, ready to enqueue. */
export interface MaintenancePlan {
  readonly definition: MaintenanceDefinition;
  /** The payload to enqueue; its own strict schema is checked by the producer. */
  readonly payload: Record<string, unknown>;
}

/** An enqueued maintenance run. */
export interface MaintenanceRun {
  readonly id: string;
  readonly type: string;
  readonly queue: QueueName;
}

// Only dry_run is read here; any other field is checked by the job's own strict schema.
const dryRunField = z.object({ dry_run: z.boolean().optional() }).loose();

/**
 * Checks a run without enqueueing it: an unknown (or not operator-runnable) job is a
 * PermanentError `unknown_job_type` (context: `known`), a dry run the job cannot do or a
 * missing dry-run choice a ValidationError naming `dry_run`.
 */
export function planMaintenanceRun(
  registry: JobRegistry,
  input: RunMaintenanceInput,
): MaintenancePlan {
  const runnable = maintenanceJobs(registry.definitions);
  const definition = runnable.find((d) => d.name === input.job);
  if (!definition) {
    throw new PermanentError('unknown_job_type', `no maintenance job "${input.job}"`, {
      job: input.job,
      known: runnable.map((d) => d.name),
    });
  }
  const parsed = dryRunField.safeParse(input.payload ?? {});
  if (!parsed.success) throw ValidationError.fromZod(parsed.error);
  const canDryRun = definition.operator.dryRun;
  const payload: { dry_run?: boolean | undefined; [field: string]: unknown } =
    input.dryRun === true
      ? { ...parsed.data, dry_run: true }
      : input.dryRun === false && canDryRun
        ? { dry_run: false, ...parsed.data }
        : parsed.data;
  if (payload.dry_run === true && !canDryRun) {
    throw new ValidationError([{ path: 'dry_run', message: `${input.job} has no dry run` }]);
  }
  if (canDryRun && payload.dry_run === undefined) {
    // Reported together with the payload's own problems.
    const own = definition.payload.safeParse(payload);
    throw new ValidationError([
      { path: 'dry_run', message: 'required: true to report only, false to run for real' },
      ...(own.success ? [] : ValidationError.fromZod(own.error).issues),
    ]);
  }
  return { definition, payload };
}

/**
 * Runs a maintenance job now: checks it (planMaintenanceRun), then enqueues it.
 * `beforeEnqueue` runs between the two, once the run is known to be valid (the CLI
 * subscribes to the job's queue events there, so it misses none).
 */
export async function runMaintenance(
  deps: { registry: JobRegistry; producer: Producer<readonly AnyJobDefinition[]> },
  input: RunMaintenanceInput,
  hooks: { beforeEnqueue?: (plan: MaintenancePlan) => Promise<void> } = {},
): Promise<MaintenanceRun> {
  const plan = planMaintenanceRun(deps.registry, input);
  await hooks.beforeEnqueue?.(plan);
  // The job's own strict schema refuses any other unknown key, naming it.
  const job = await deps.producer.enqueueByName(plan.definition.name, plan.payload);
  return { id: job.id, type: plan.definition.name, queue: plan.definition.queue };
}
