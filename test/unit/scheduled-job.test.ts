/**
 * A scheduled maintenance job is one definition (test/fixtures/scheduled-job.ts) added to a
 * registry: the scheduler, `stowage schedules`, the maintenance list (route, CLI, OpenAPI)
 * and the dashboard pick it up with no other file touched.
 */
import { describe, expect, it } from 'vitest';
import { createOpenApiDocument } from '../../src/api/openapi.js';
import { schedulesCommand } from '../../src/cli/schedule-commands.js';
import { loadConfig } from '../../src/config.js';
import { JobRegistry } from '../../jobs/job-registry.js';
import { scheduleFromConfig } from '../../jobs/job-schedules.js';
import { maintenanceJobs } from '../../jobs/maintenance-jobs.js';
import { JOB_DEFINITIONS } from '../../jobs/registry.js';
import { queueDescriptions } from '../../dashboard/queue-descriptions.js';
import { planMaintenanceRun } from '../../queues/use-cases/run-maintenance.js';
import { tickJob } from '../fixtures/scheduled-job.js';

const definitions = [...JOB_DEFINITIONS, tickJob] as const;
const registry = new JobRegistry(definitions);

describe('a new scheduled maintenance job, declared in its definition only', () => {
  it('is ticked by the scheduler at its default cron, or as SCHEDULE_<KEY> says', () => {
    const { entries } = scheduleFromConfig(loadConfig({}), registry);
    expect(entries).toContainEqual({ jobName: 'test.tick', cron: '*/5 * * * *', payload: {} });
    const moved = scheduleFromConfig(loadConfig({ SCHEDULE_TEST_TICK: '0 6 * * *' }), registry);
    expect(moved.entries.find((e) => e.jobName === 'test.tick')?.cron).toBe('0 6 * * *');
    const off = scheduleFromConfig(loadConfig({ SCHEDULE_TEST_TICK: 'off' }), registry);
    expect(off.skipped).toEqual([{ jobName: 'test.tick', reason: 'disabled (off)' }]);
    // Without the definition, the same variable is one no job declares.
    expect(() =>
      scheduleFromConfig(
        loadConfig({ SCHEDULE_TEST_TICK: 'off' }),
        new JobRegistry(JOB_DEFINITIONS),
      ),
    ).toThrow(/SCHEDULE_TEST_TICK/);
  });

  it('is listed by stowage schedules with its variable and cron', () => {
    let out = '';
    const io = { stdout: { write: (t: string) => (out += t) }, stderr: { write: () => true } };
    const code = schedulesCommand(loadConfig({}), { json: true }, io, definitions);
    expect(code).toBe(0);
    expect(JSON.parse(out)).toContainEqual({
      job: 'test.tick',
      variable: 'SCHEDULE_TEST_TICK',
      cron: '*/5 * * * *',
      default: '*/5 * * * *',
      source: 'default',
    });
  });

  it('can be run now, with a dry run, by the route, the CLI and the OpenAPI operation', () => {
    expect(maintenanceJobs(registry.definitions).map((d) => d.name)).toContain('test.tick');
    expect(planMaintenanceRun(registry, { job: 'test.tick', dryRun: true }).payload).toEqual({
      dry_run: true,
    });
    const doc = createOpenApiDocument(loadConfig({}), registry);
    const operation = doc.paths['/v1/maintenance/{job}']?.['post'] as {
      parameters: { schema: { enum: string[] } }[];
    };
    expect(operation.parameters[0]?.schema.enum).toContain('test.tick');
  });

  it('names its work in its queue’s dashboard description', () => {
    expect(queueDescriptions(definitions)['maintenance']).toBe(
      'retention cleanup, stale-upload abort, staged-batch sweep, dead-letter sweep and test sweeps',
    );
  });
});
