import type { Config } from '../config.js';
import type { AnyJobDefinition } from '../../jobs/job-definition.js';
import { resolveSchedules, undeclaredScheduleVariables } from '../../jobs/job-schedules.js';
import { JOB_DEFINITIONS } from '../../jobs/registry.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { writeJson, type CliIo } from './operator-context.js';
import { formatTable } from './table.js';
import { ScheduleTickStore } from '../stores/redis/schedule-tick-store.js';
import { listSchedules } from '../../queues/use-cases/list-schedules.js';
import type { OperatorContext } from './operator-context.js';

/**
 * `stowage schedules [--json]`: each scheduled job type, its variable and its effective
 * cron (or off), from the definitions and the environment; no connection opens. A
 * `SCHEDULE_<KEY>` no definition declares is reported, exit 2: the scheduler would refuse it.
 */
export function schedulesCommand(
  config: Pick<Config, 'schedules'>,
  args: { json: boolean },
  io: CliIo,
  definitions: readonly AnyJobDefinition[] = JOB_DEFINITIONS,
): ExitCode {
  const rows = resolveSchedules(config.schedules, definitions).map((s) => ({
    job: s.jobName,
    variable: s.variable,
    cron: s.cron ?? 'off',
    default: s.defaultCron ?? 'off',
    source: s.source,
  }));
  if (args.json) writeJson(io, rows);
  else {
    const table = formatTable(
      ['JOB', 'VARIABLE', 'CRON (UTC)', 'DEFAULT', 'SET BY'],
      rows.map((r) => [r.job, r.variable, r.cron, r.default, r.source]),
    );
    io.stdout.write(`${table}\n`);
  }
  const undeclared = undeclaredScheduleVariables(config.schedules, definitions);
  if (undeclared.length === 0) return EXIT.ok;
  io.stderr.write(
    `schedules: ${undeclared.join(', ')} ${undeclared.length === 1 ? 'names' : 'name'} no scheduled job; the scheduler refuses to start\n`,
  );
  return EXIT.usage;
}

/**
 * `stowage schedules list [--json]`: each scheduled job type with its cron, the last tick a
 * scheduler enqueued (read from the queue Redis) and the next one (from the cron).
 */
export async function schedulesListCommand(
  ctx: Pick<OperatorContext, 'config' | 'deps' | 'io'>,
  args: { json: boolean },
  definitions: readonly AnyJobDefinition[] = JOB_DEFINITIONS,
): Promise<ExitCode> {
  const rows = await listSchedules(
    { schedules: ctx.config.schedules, definitions },
    { ticks: new ScheduleTickStore(ctx.deps.redis, ctx.config.QUEUE_PREFIX) },
  );
  if (args.json) writeJson(ctx.io, rows);
  else {
    const table = formatTable(
      ['JOB', 'CRON (UTC)', 'LAST TICK', 'NEXT TICK', 'SET BY'],
      rows.map((r) => [r.job, r.cron, r.last_tick ?? '-', r.next_tick ?? '-', r.source]),
    );
    ctx.io.stdout.write(`${table}\n`);
  }
  return EXIT.ok;
}
