import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, loadConfig } from '../../src/config.js';
import { StartupRefusedError } from '../../src/errors/index.js';
import { defineJob } from '../../jobs/job-definition.js';
import { JobRegistry } from '../../jobs/job-registry.js';
import {
  resolveSchedules,
  scheduleFromConfig,
  scheduleVariableDocs,
  undeclaredScheduleVariables,
} from '../../jobs/job-schedules.js';
import { createJobRegistry } from '../../jobs/registry.js';
import { parseSchedulesArgs } from '../../src/cli/args.js';
import { schedulesCommand } from '../../src/cli/schedule-commands.js';
import { UsageError } from '../../src/cli/usage-error.js';

const registry = createJobRegistry();
const schedule = (env: Record<string, string>) =>
  scheduleFromConfig(loadConfig({ LOG_LEVEL: 'silent', ...env }), registry);

/** The problems loadConfig reports for an environment. */
function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('job schedules', () => {
  it('schedules every declared job at its default, archive before retention', () => {
    const { entries, skipped } = schedule({});
    expect(skipped).toEqual([]);
    expect(Object.fromEntries(entries.map((e) => [e.jobName, e.cron]))).toEqual({
      'archive.lock': '15 1 * * *',
      'retention.cleanup': '45 2 * * *',
      'cache.promote': '5 * * * *',
      'uploads.abort-stale': '35 * * * *',
      'batches.sweep': '*/15 * * * *',
      'activities.archive': '30 1 * * *',
      'detections.archive': '45 1 * * *',
      'deadletters.sweep': '*/5 * * * *',
    });
    const names = entries.map((e) => e.jobName);
    expect(names.indexOf('archive.lock')).toBeLessThan(names.indexOf('retention.cleanup'));
    expect(names.indexOf('activities.archive')).toBeLessThan(names.indexOf('detections.archive'));
    for (const e of entries) expect(e.payload).toEqual({});
  });

  it('keeps the variable names of every release: SCHEDULE_ARCHIVE, _RETENTION, _CACHE_WARM, _ABORT_STALE_UPLOADS', () => {
    expect(
      Object.fromEntries(
        resolveSchedules({}, registry.definitions).map((s) => [s.jobName, s.variable]),
      ),
    ).toEqual({
      'archive.lock': 'SCHEDULE_ARCHIVE',
      'retention.cleanup': 'SCHEDULE_RETENTION',
      'cache.promote': 'SCHEDULE_CACHE_WARM',
      'uploads.abort-stale': 'SCHEDULE_ABORT_STALE_UPLOADS',
      'batches.sweep': 'SCHEDULE_SWEEP_BATCHES',
      'activities.archive': 'SCHEDULE_ACTIVITIES_ARCHIVE',
      'detections.archive': 'SCHEDULE_DETECTIONS_ARCHIVE',
      'deadletters.sweep': 'SCHEDULE_SWEEP_DEAD_LETTERS',
    });
  });

  it('an environment variable overrides a default, and off leaves the entry out, reported', () => {
    const { entries, skipped } = schedule({
      SCHEDULE_CACHE_WARM: '*/10 * * * *',
      SCHEDULE_ARCHIVE: 'off',
    });
    expect(entries.find((e) => e.jobName === 'cache.promote')?.cron).toBe('*/10 * * * *');
    expect(entries.map((e) => e.jobName)).not.toContain('archive.lock');
    expect(skipped).toEqual([{ jobName: 'archive.lock', reason: 'disabled (off)' }]);
    const resolved = resolveSchedules(
      loadConfig({ SCHEDULE_CACHE_WARM: '*/10 * * * *' }).schedules,
      registry.definitions,
    );
    expect(resolved.find((s) => s.jobName === 'cache.promote')).toMatchObject({
      cron: '*/10 * * * *',
      defaultCron: '5 * * * *',
      source: 'environment',
    });
    expect(resolved.find((s) => s.jobName === 'archive.lock')?.source).toBe('default');
  });

  it('an empty variable is unset: the default applies', () => {
    expect(schedule({ SCHEDULE_ARCHIVE: '' }).entries.map((e) => e.jobName)).toContain(
      'archive.lock',
    );
  });

  it('a bad cron expression is a configuration problem naming the variable, with the others', () => {
    expect(problemsOf({ SCHEDULE_RETENTION: '99 * * * *', API_PORT: '70000' })).toEqual([
      expect.stringMatching(/^API_PORT: /),
      expect.stringMatching(/^SCHEDULE_RETENTION: must be a cron expression/),
    ]);
    // Named even for a key no definition declares: the value is wrong whoever reads it.
    expect(problemsOf({ SCHEDULE_NOPE: 'hourly' })).toEqual([
      expect.stringMatching(/^SCHEDULE_NOPE: /),
    ]);
  });

  it('a SCHEDULE_ variable no definition declares refuses the scheduler, naming it', () => {
    const attempt = () => schedule({ SCHEDULE_ARCHIV: '0 1 * * *' });
    expect(attempt).toThrow(StartupRefusedError);
    expect(attempt).toThrow(/SCHEDULE_ARCHIV names no scheduled job.*SCHEDULE_ARCHIVE/);
    expect(
      undeclaredScheduleVariables(
        loadConfig({ SCHEDULE_X: 'off' }).schedules,
        registry.definitions,
      ),
    ).toEqual(['SCHEDULE_X']);
  });

  it('two definitions sharing a key, or a default that is no cron expression, are refused', () => {
    const base = {
      queue: 'maintenance',
      description: 'x',
      scope: 'admin',
      payload: z.object({}),
      fixture: {},
    } as const;
    const a = defineJob({ ...base, name: 'a.run', schedule: { key: 'SAME', cron: 'off' } });
    const b = defineJob({ ...base, name: 'b.run', schedule: { key: 'SAME', cron: 'off' } });
    expect(() => resolveSchedules({}, [a, b])).toThrow(/share schedule key SAME/);
    const bad = defineJob({ ...base, name: 'c.run', schedule: { key: 'C', cron: 'hourly' } });
    expect(() => resolveSchedules({}, [bad])).toThrow(/c\.run.*hourly/);
    expect(() =>
      defineJob({ ...base, name: 'd.run', schedule: { key: 'lower', cron: 'off' } }),
    ).toThrow(/upper case/);
  });

  it('a definition whose default is off is not scheduled until the environment sets it', () => {
    const base = {
      queue: 'maintenance',
      description: 'x',
      scope: 'admin',
      payload: z.object({}),
      fixture: {},
    } as const;
    const quiet = new JobRegistry([
      defineJob({ ...base, name: 'quiet.run', schedule: { key: 'QUIET', cron: 'off' } }),
    ]);
    expect(scheduleFromConfig({ schedules: {} }, quiet)).toEqual({
      entries: [],
      skipped: [{ jobName: 'quiet.run', reason: 'disabled (off)' }],
    });
    expect(scheduleFromConfig({ schedules: { QUIET: '0 4 * * *' } }, quiet).entries).toEqual([
      { jobName: 'quiet.run', cron: '0 4 * * *', payload: {} },
    ]);
    expect(scheduleVariableDocs(quiet.definitions)).toEqual([
      { variable: 'SCHEDULE_QUIET', default: 'off', description: 'quiet.run cron (UTC) or off.' },
    ]);
  });

  it('stowage schedules prints each job, its variable and cron; an undeclared variable exits 2', () => {
    let out = '';
    let err = '';
    const io = {
      stdout: { write: (t: string) => (out += t) },
      stderr: { write: (t: string) => (err += t) },
    };
    expect(schedulesCommand(loadConfig({ SCHEDULE_ARCHIVE: 'off' }), { json: false }, io)).toBe(0);
    expect(out).toMatch(/^JOB +VARIABLE +CRON \(UTC\) +DEFAULT +SET BY$/m);
    expect(out).toMatch(/^archive\.lock +SCHEDULE_ARCHIVE +off +15 1 \* \* \* +environment$/m);
    expect(out).toMatch(
      /^retention\.cleanup +SCHEDULE_RETENTION +45 2 \* \* \* +45 2 \* \* \* +default$/m,
    );
    expect(err).toBe('');
    expect(schedulesCommand(loadConfig({ SCHEDULE_NOPE: 'off' }), { json: true }, io)).toBe(2);
    expect(err).toMatch(/SCHEDULE_NOPE names no scheduled job/);
    expect(parseSchedulesArgs(['--json'])).toEqual({ json: true });
    expect(() => parseSchedulesArgs(['--jsn'])).toThrow(UsageError);
  });
});
