// Timeouts and cancel against the real queue Redis and real worker hosts (issue 16, item 1).
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TransientError } from '../../src/errors/index.js';
import { StowageClient } from '../../src/sdk/index.js';
import { defineJob, type Handler } from '../../jobs/job-definition.js';
import { JobRegistry } from '../../jobs/job-registry.js';
import { World, TEST_KEYS, eventually } from '../helpers/world.js';
import { runCli } from '../helpers/cli-process.js';

/** Waits until its signal aborts (or `ms`), checking at every step: a well-behaved handler. */
const politeJob = defineJob({
  name: 'test.polite',
  queue: 'ingest',
  description: 'Sleeps in steps until aborted.',
  scope: 'ingest',
  timeout: { ms: 400, retryable: false },
  payload: z.strictObject({ ms: z.number().int() }),
  fixture: { ms: 1 },
});
/** Never settles and ignores its signal: the runner must stop waiting for it. */
const hungJob = defineJob({
  name: 'test.hung',
  queue: 'ingest',
  description: 'Hangs for ever.',
  scope: 'ingest',
  timeout: { ms: 300, retryable: false },
  payload: z.strictObject({ n: z.number().int() }),
  fixture: { n: 0 },
});
const quickJob = defineJob({
  name: 'test.quick',
  queue: 'ingest',
  description: 'Returns at once.',
  scope: 'ingest',
  payload: z.strictObject({ n: z.number().int() }),
  fixture: { n: 0 },
});
const DEFS = [politeJob, hungJob, quickJob] as const;

function handlers(started: Set<string>) {
  const polite: Handler<typeof politeJob> = async (p, ctx) => {
    started.add(ctx.jobId);
    const until = Date.now() + p.ms;
    while (Date.now() < until) {
      if (ctx.signal.aborted) throw new TransientError('aborted', 'stopped');
      await sleep(20);
    }
    return { slept: p.ms };
  };
  const hung: Handler<typeof hungJob> = () => new Promise(() => undefined);
  const quick: Handler<typeof quickJob> = (p) => Promise.resolve({ n: p.n });
  return { 'test.polite': polite, 'test.hung': hung, 'test.quick': quick };
}

describe('job timeouts and cancel', () => {
  let world: World<typeof DEFS>;
  const started = new Set<string>();
  beforeEach(() => {
    world = new World(new JobRegistry(DEFS), () => handlers(started), {
      JOB_ABORT_GRACE_MS: '200',
    });
  });
  afterEach(async () => {
    await world.close();
  });

  const failedReason = async (id: string) =>
    eventually(
      async () => {
        const job = await world.queues.get('ingest').getJob(id);
        return job?.finishedOn ? job : undefined;
      },
      20_000,
      `job ${id} finished`,
    );

  it('a job past its maximum duration fails for good with job_timeout', async () => {
    await world.startWorker(['ingest']);
    const { id } = await world.producer.enqueue('test.polite', { ms: 60_000 });
    const job = await failedReason(id);
    expect(await job.getState()).toBe('failed');
    expect(job.failedReason).toBe('job_timeout: test.polite ran past 400 ms');
    expect(job.attemptsMade).toBe(1);
  });

  it('a per-job timeout wins over the type default', async () => {
    await world.startWorker(['ingest']);
    const { id } = await world.producer.enqueue('test.polite', { ms: 60_000 }, { timeoutMs: 150 });
    const job = await failedReason(id);
    expect(job.failedReason).toBe('job_timeout: test.polite ran past 150 ms');
  });

  it('a hung handler that ignores its signal frees its slot', async () => {
    const host = await world.startWorker(['ingest']);
    for (const worker of host.workers) worker.concurrency = 1;
    const hung = await world.producer.enqueue('test.hung', { n: 1 });
    const next = await world.producer.enqueue('test.quick', { n: 2 });
    const job = await failedReason(hung.id);
    expect(job.failedReason).toBe('job_timeout: test.hung ran past 300 ms');
    const done = await failedReason(next.id);
    expect(await done.getState()).toBe('completed');
  });

  it('a cancelled waiting job is gone (API), a running one ends cancelled (SDK)', async () => {
    const base = await world.startApi();
    const admin = new StowageClient({ baseUrl: base, apiKey: TEST_KEYS.admin });
    const waiting = await world.producer.enqueue('test.quick', { n: 3 });
    const res = await fetch(`${base}/v1/jobs/${waiting.id}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEYS.admin}` },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: waiting.id, state: 'removed' });
    expect(await world.queues.get('ingest').getJob(waiting.id)).toBeUndefined();
    // A non-admin key may not cancel.
    const refused = await fetch(`${base}/v1/jobs/${waiting.id}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEYS.ingest}` },
    });
    expect(refused.status).toBe(403);

    await world.startWorker(['ingest']);
    const running = await world.producer.enqueue(
      'test.polite',
      { ms: 60_000 },
      { timeoutMs: 60_000 },
    );
    await eventually(() => Promise.resolve(started.has(running.id) ? true : undefined));
    const answer = await admin.cancelJob(running.id);
    expect(answer.state).toBe('cancelling');
    const job = await failedReason(running.id);
    expect(job.failedReason).toBe('job_cancelled: cancelled by admin-client');
    expect(job.attemptsMade).toBe(1);
    const status = await admin.getJob(running.id);
    expect(status.state).toBe('cancelled');
    expect((await admin.cancelJob(running.id)).state).toBe('cancelled');
  });

  it('stowage jobs cancel (a real process) removes a waiting job; the dashboard route needs admin', async () => {
    const waiting = await world.producer.enqueue('test.quick', { n: 4 });
    const cli = runCli(['jobs', 'cancel', waiting.id, '--json'], {
      QUEUE_PREFIX: world.config.QUEUE_PREFIX,
      LOG_LEVEL: 'silent',
    });
    expect(await cli.exited).toBe(0);
    expect(JSON.parse(cli.output().slice(cli.output().indexOf('{')))).toMatchObject({
      id: waiting.id,
      state: 'removed',
    });
    expect(await world.queues.get('ingest').getJob(waiting.id)).toBeUndefined();

    const base = await world.startApi();
    const other = await world.producer.enqueue('test.quick', { n: 5 });
    const url = `${base}${world.config.DASHBOARD_PATH}/api/jobs/${other.id}/cancel`;
    const asRead = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEYS.read}` },
    });
    expect(asRead.status).toBe(403);
    // Another site's form carries the board's cached credentials: refused, nothing cancelled.
    const crossSite = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEYS.admin}`, origin: 'https://evil.example' },
    });
    expect(crossSite.status).toBe(403);
    expect(await world.queues.get('ingest').getJob(other.id)).toBeDefined();
    const asAdmin = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEYS.admin}` },
    });
    expect(asAdmin.status).toBe(200);
    expect(await asAdmin.json()).toMatchObject({ id: other.id, state: 'removed' });
    expect(await world.queues.get('ingest').getJob(other.id)).toBeUndefined();
  });
});
