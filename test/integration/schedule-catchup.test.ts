import { afterEach, describe, expect, it } from 'vitest';
import { ScheduleTickStore } from '../../src/stores/redis/schedule-tick-store.js';
import { Scheduler, type ScheduleEntry } from '../../workers/scheduler.js';
import { runCli, type CliProcess } from '../helpers/cli-process.js';
import { StowageWorld, TestWorld, TEST_KEYS, eventually } from '../helpers/world.js';

const MINUTE = 60_000;
const T0 = new Date('2026-01-01T02:45:00.000Z');
const at = (minutes: number) => new Date(T0.getTime() + minutes * MINUTE);
const tickId = (job: string, d: Date) => `${job}.tick-${d.getTime() / 1000}`;

describe('catch-up schedules (the Scheduler against Redis)', () => {
  let world: TestWorld;
  const entry: ScheduleEntry = { jobName: 'test.sum', cron: '* * * * *', payload: { label: 't' } };
  const make = (catchUpMax = 3) =>
    new Scheduler({
      entries: [entry],
      producer: world.producer,
      log: world.deps.log,
      ticks: new ScheduleTickStore(world.deps.redis, world.config.QUEUE_PREFIX),
      catchUpMax,
    });
  const jobIds = async () =>
    (await world.queues.get('maintenance').getJobs(['waiting', 'prioritized'])).map((j) => j.id);
  afterEach(async () => {
    await world.close();
  });

  it('a first start with no record runs no catch-up; a later one runs each missed tick once', async () => {
    world = new TestWorld();
    expect(await make().catchUp(at(0))).toEqual([]);
    expect(await jobIds()).toEqual([]);
    // Down from 02:45 to 02:47:30: the 02:46 and 02:47 ticks were missed.
    expect(await make().catchUp(new Date(at(2).getTime() + 30_000))).toEqual([
      tickId('test.sum', at(1)),
      tickId('test.sum', at(2)),
    ]);
    expect((await jobIds()).sort()).toEqual(
      [tickId('test.sum', at(1)), tickId('test.sum', at(2))].sort(),
    );
    // Started again right after: nothing more was missed.
    expect(await make().catchUp(new Date(at(2).getTime() + 40_000))).toEqual([]);
    expect(await jobIds()).toHaveLength(2);
  });

  it('runs at most SCHEDULER_CATCHUP_MAX missed ticks per entry, the newest, oldest first', async () => {
    world = new TestWorld();
    const scheduler = make(3);
    expect(await scheduler.tick(entry, at(0))).toBe(tickId('test.sum', at(0)));
    // Down for ten ticks: only 02:53, 02:54 and 02:55 run.
    expect(await make(3).catchUp(at(10))).toEqual([
      tickId('test.sum', at(8)),
      tickId('test.sum', at(9)),
      tickId('test.sum', at(10)),
    ]);
    expect(await jobIds()).toHaveLength(4);
    const recorded = await new ScheduleTickStore(world.deps.redis, world.config.QUEUE_PREFIX).read([
      'test.sum',
    ]);
    expect(recorded.get('test.sum')?.last?.toISOString()).toBe(at(10).toISOString());
    // An older tick enqueued late does not move the record back.
    await scheduler.tick(entry, at(5));
    const after = await new ScheduleTickStore(world.deps.redis, world.config.QUEUE_PREFIX).read([
      'test.sum',
    ]);
    expect(after.get('test.sum')?.last?.toISOString()).toBe(at(10).toISOString());
  });

  it('two schedulers starting at once make one job per missed tick', async () => {
    world = new TestWorld();
    await make().tick(entry, at(0));
    const [a, b] = await Promise.all([make().catchUp(at(3)), make().catchUp(at(3))]);
    expect(a).toEqual(b);
    expect(a).toHaveLength(3);
    // The tick of 02:45 and the three missed ones, each once.
    expect(await jobIds()).toHaveLength(4);
  });
});

describe('the scheduler process across a stop', () => {
  const processes: CliProcess[] = [];
  let world: StowageWorld | undefined;
  afterEach(async () => {
    for (const p of processes.splice(0)) {
      if (p.child.exitCode === null) {
        p.child.kill('SIGKILL');
        await p.exited;
      }
    }
    await world?.close();
    world = undefined;
  });

  it('runs the ticks missed while it was down once, however many replicas start together; the schedules show them', async () => {
    world = new StowageWorld();
    const env = {
      QUEUE_PREFIX: world.config.QUEUE_PREFIX,
      LOG_LEVEL: 'info',
      // Every second, so a stop of a few seconds misses ticks.
      SCHEDULE_SWEEP_DEAD_LETTERS: '* * * * * *',
      SCHEDULER_CATCHUP_MAX: '100',
    };
    const job = 'deadletters.sweep';
    const maintenance = world.queues.get('maintenance');
    const ticks = async () =>
      (await maintenance.getJobs(['waiting', 'prioritized']))
        .map((j) => j.id ?? '')
        .filter((id) => id.startsWith(`${job}.tick-`))
        .map((id) => Number(id.slice(`${job}.tick-`.length)));

    const first = runCli(['scheduler'], env);
    processes.push(first);
    await eventually(
      async () => ((await ticks()).length >= 1 ? true : undefined),
      60_000,
      'a tick',
    );
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const stoppedAt = Math.max(...(await ticks()));
    // Down across at least two ticks (the wait is on the clock: the ticks are its seconds).
    await eventually(
      () => Promise.resolve(Date.now() / 1000 > stoppedAt + 3 ? true : undefined),
      10_000,
      'three seconds of downtime',
    );
    const downUntil = Math.floor(Date.now() / 1000);

    const replicas = [runCli(['scheduler'], env), runCli(['scheduler'], env)];
    processes.push(...replicas);
    await eventually(
      async () => ((await ticks()).some((t) => t >= downUntil) ? true : undefined),
      60_000,
      'ticks after the restart',
    );
    for (const r of replicas) r.child.kill('SIGTERM');
    await Promise.all(replicas.map((r) => r.exited));

    const seconds = (await ticks()).sort((x, y) => x - y);
    const to = seconds.at(-1)!;
    expect(to).toBeGreaterThanOrEqual(downUntil);
    // Every second no scheduler ran has its job (a job id is its tick: once at most).
    const missed = Array.from({ length: downUntil - stoppedAt }, (_, i) => stoppedAt + 1 + i);
    expect(missed.length).toBeGreaterThanOrEqual(3);
    expect(missed.filter((s) => !seconds.includes(s))).toEqual([]);
    expect(replicas.some((r) => r.output().includes('running missed ticks'))).toBe(true);

    // The api and the CLI show the last tick and the next one.
    const base = await world.startApi();
    const res = await fetch(`${base}/v1/schedules`, {
      headers: { authorization: `Bearer ${TEST_KEYS.read}` },
    });
    expect(res.status).toBe(200);
    const { schedules } = (await res.json()) as {
      schedules: {
        job: string;
        cron: string;
        last_tick: string | null;
        next_tick: string | null;
      }[];
    };
    const row = schedules.find((s) => s.job === job)!;
    expect(row.last_tick).toBe(new Date(to * 1000).toISOString());
    expect(Date.parse(row.next_tick!)).toBeGreaterThan(Date.now() - 1000);
    const list = runCli(['schedules', 'list', '--json'], {
      QUEUE_PREFIX: world.config.QUEUE_PREFIX,
    });
    expect(await list.exited).toBe(0);
    const listed = JSON.parse(list.output().slice(list.output().search(/^\[/m))) as {
      job: string;
      last_tick: string | null;
    }[];
    expect(listed.find((s) => s.job === job)?.last_tick).toBe(row.last_tick);
  });
});
