import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { Scheduler } from '../../workers/scheduler.js';
import { TestWorld, eventually } from '../helpers/world.js';

describe('scheduler', () => {
  let world: TestWorld;
  const schedulers: Scheduler[] = [];
  afterEach(async () => {
    await Promise.all(schedulers.map((s) => s.stop()));
    schedulers.length = 0;
    await world.close();
  });

  const make = (cron: string) => {
    const scheduler = new Scheduler({
      entries: [{ jobName: 'test.sum', cron, payload: { label: 'tick' } }],
      producer: world.producer,
      log: world.deps.log,
    });
    schedulers.push(scheduler);
    return scheduler;
  };

  it('replicas ticking at the same time enqueue one job per tick', async () => {
    world = new TestWorld();
    const entry = { jobName: 'test.sum', cron: '* * * * *', payload: { label: 'tick' } };
    const at = new Date('2026-01-01T02:45:00.000Z');
    const ids = await Promise.all([1, 2, 3].map(() => make(entry.cron).tick(entry, at)));
    expect(new Set(ids).size).toBe(1);
    expect(await world.queues.get('maintenance').count()).toBe(1);
    await make(entry.cron).tick(entry, new Date('2026-01-01T02:46:00.000Z'));
    expect(await world.queues.get('maintenance').count()).toBe(2);
  });

  it('two running replicas on an every-second cron produce one job per second', async () => {
    world = new TestWorld();
    make('* * * * * *').start();
    make('* * * * * *').start();
    const jobs = await eventually(
      async () => {
        const waiting = await world.queues.get('maintenance').getJobs(['waiting', 'prioritized']);
        return waiting.length >= 3 ? waiting : undefined;
      },
      10_000,
      'three ticks',
    );
    const ticks = jobs.map((j) => j.id!.replace('test.sum.tick-', ''));
    expect(new Set(ticks).size).toBe(ticks.length);
    // Every tick id is a whole second and both replicas tried it: no tick was doubled.
    for (const t of ticks) expect(Number(t)).toBeGreaterThan(1_700_000_000);
  });

  it('a tick for an unregistered job is logged and skipped, not thrown', async () => {
    world = new TestWorld();
    const s = make('* * * * *');
    const id = await s.tick({ jobName: 'no.such', cron: '* * * * *', payload: {} }, new Date());
    expect(id).toBeUndefined();
  });
});

describe('scheduler process', () => {
  it('a SCHEDULE_ variable no job declares refuses the start with exit code 3, naming it', async () => {
    const attempt = promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', 'scheduler'],
      { env: { ...process.env, SCHEDULE_ARCHIV: '0 1 * * *' }, timeout: 60_000 },
    );
    await expect(attempt).rejects.toMatchObject({
      code: EXIT.refused,
      stderr: expect.stringMatching(/SCHEDULE_ARCHIV names no scheduled job/),
    });
  });
});
