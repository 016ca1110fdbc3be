import { SCHEDULE_ENV_PREFIX, scheduleSchema, type Config } from '../src/config.js';
import { StartupRefusedError } from '../src/errors/index.js';
import type { AnyJobDefinition, JobSchedule } from './job-definition.js';
import type { JobRegistry } from './job-registry.js';

/** One cron entry: which job type to enqueue, when (UTC), with what payload. */
export interface ScheduleEntry {
  jobName: string;
  cron: string;
  payload: unknown;
}

/** A scheduled job type as configured: its variable, its cron (null: off), and whence. */
export interface ResolvedSchedule {
  readonly jobName: string;
  /** The environment variable, e.g. `SCHEDULE_ARCHIVE`. */
  readonly variable: string;
  /** The effective cron expression, or null when off. */
  readonly cron: string | null;
  /** The definition's default (null: off). */
  readonly defaultCron: string | null;
  /** Whether the environment set it or the definition's default applies. */
  readonly source: 'environment' | 'default';
}

/** A definition that declares a schedule. */
export type ScheduledDefinition = AnyJobDefinition & { readonly schedule: JobSchedule };

/** The definitions that declare a schedule, in registry order. */
export function scheduledDefinitions(
  definitions: readonly AnyJobDefinition[],
): ScheduledDefinition[] {
  return definitions.filter((d): d is ScheduledDefinition => d.schedule !== undefined);
}

/** The environment variable a definition's schedule is read from. */
export function scheduleVariable(definition: ScheduledDefinition): string {
  return `${SCHEDULE_ENV_PREFIX}${definition.schedule.key}`;
}

/**
 * Each scheduled definition's effective cron: the environment's `SCHEDULE_<KEY>` when set
 * (already validated by loadConfig), else the definition's default. Two definitions
 * sharing a key, or a default that is not a cron expression, are programming errors.
 */
export function resolveSchedules(
  schedules: Config['schedules'],
  definitions: readonly AnyJobDefinition[],
): ResolvedSchedule[] {
  const owners = new Map<string, string>();
  return scheduledDefinitions(definitions).map((definition) => {
    const { key, cron } = definition.schedule;
    const owner = owners.get(key);
    if (owner !== undefined) {
      throw new Error(`job "${definition.name}" and job "${owner}" share schedule key ${key}`);
    }
    owners.set(key, definition.name);
    const parsed = scheduleSchema.safeParse(cron);
    if (!parsed.success) {
      throw new Error(
        `job "${definition.name}": default schedule "${cron}" ${parsed.error.issues[0]?.message ?? 'is invalid'}`,
      );
    }
    const set = Object.hasOwn(schedules, key);
    return {
      jobName: definition.name,
      variable: scheduleVariable(definition),
      cron: set ? (schedules[key] ?? null) : parsed.data,
      defaultCron: parsed.data,
      source: set ? 'environment' : 'default',
    };
  });
}

/** The `SCHEDULE_<KEY>` variables the environment sets that no definition declares. */
export function undeclaredScheduleVariables(
  schedules: Config['schedules'],
  definitions: readonly AnyJobDefinition[],
): string[] {
  const declared = new Set(scheduledDefinitions(definitions).map((d) => d.schedule.key));
  return Object.keys(schedules)
    .filter((key) => !declared.has(key))
    .map((key) => `${SCHEDULE_ENV_PREFIX}${key}`);
}

/**
 * The scheduler's entries, from the definitions' schedules and the environment, in
 * registry order (archive before retention). Entries set to `off` are left out and
 * reported. A `SCHEDULE_<KEY>` no definition declares is a typo that would silently leave
 * a job on its default: refused.
 */
export function scheduleFromConfig(
  config: Pick<Config, 'schedules'>,
  registry: JobRegistry,
): { entries: ScheduleEntry[]; skipped: { jobName: string; reason: string }[] } {
  const undeclared = undeclaredScheduleVariables(config.schedules, registry.definitions);
  if (undeclared.length > 0) {
    const known = scheduledDefinitions(registry.definitions).map(scheduleVariable);
    throw new StartupRefusedError(
      'unknown_schedule',
      `${undeclared.join(', ')} ${undeclared.length === 1 ? 'names' : 'name'} no scheduled job (known: ${known.join(', ') || 'none'})`,
    );
  }
  const entries: ScheduleEntry[] = [];
  const skipped: { jobName: string; reason: string }[] = [];
  for (const { jobName, cron } of resolveSchedules(config.schedules, registry.definitions)) {
    if (cron === null) skipped.push({ jobName, reason: 'disabled (off)' });
    else entries.push({ jobName, cron, payload: {} });
  }
  return { entries, skipped };
}

/** A `SCHEDULE_<KEY>` variable as the docs list it (README table, .env.example). */
export interface ScheduleVariableDoc {
  readonly variable: string;
  /** The default cron expression, or `off`. */
  readonly default: string;
  readonly description: string;
}

/**
 * The variable of each scheduled definition, with its default and meaning: the docs may
 * list these, and only these, so a new scheduled job needs no doc edit to be configurable.
 */
export function scheduleVariableDocs(
  definitions: readonly AnyJobDefinition[],
): ScheduleVariableDoc[] {
  return resolveSchedules({}, definitions).map((s) => ({
    variable: s.variable,
    default: s.defaultCron ?? 'off',
    description: `${s.jobName} cron (UTC) or off.`,
  }));
}
