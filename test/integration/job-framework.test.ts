import { Job } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors/index.js';
import { QUEUE_DEFAULTS } from '../../queues/queue-defaults.js';
import { TestWorld, eventually } from '../helpers/world.js';

async function finished(
  world: TestWorld,
  queue: 'ingest' | 'artifacts' | 'maintenance',
  id: string,
) {
  // State first, then the job: read the other way round, a job finishing in between shows
  // its final state with the fields of before.
  await eventually(
    async () => {
      const state = await world.queues.get(queue).getJobState(id);
      return state === 'completed' || state === 'failed' ? state : undefined;
    },
    15_000,
    `job ${id} finished`,
  );
  return (await Job.fromId(world.queues.get(queue), id))!;
}

describe('job framework', () => {
  let world: TestWorld;
  beforeEach(() => {
    world = new TestWorld();
  });
  afterEach(async () => {
    await world.close();
  });

  it('runs an enqueued job and keeps its return value', async () => {
    await world.startWorker(['ingest']);
    const job = await world.producer.enqueue('test.echo', { value: 'ab', times: 2 });
    expect(job.queue).toBe('ingest');
    const done = await finished(world, 'ingest', job.id);
    expect(await done.getState()).toBe('completed');
    expect(done.returnvalue).toEqual({ echoed: 'abab', attempt: 1 });
    expect(done.progress).toBe(100);
  });

  it('applies the queue defaults: attempts, exponential backoff with jitter, retention', async () => {
    const job = await world.producer.enqueue('test.echo', { value: 'defaults' });
    const stored = await world.queues.get('ingest').getJob(job.id);
    expect(stored!.opts.attempts).toBe(QUEUE_DEFAULTS.ingest.job.attempts);
    expect(stored!.opts.backoff).toMatchObject({ type: 'exponential', jitter: 0.5 });
    expect(stored!.opts.removeOnComplete).toEqual(QUEUE_DEFAULTS.ingest.job.removeOnComplete);
  });

  it('JOBS_KEEP_COMPLETED keeps that many completed jobs of a queue, whatever their type', async () => {
    const small = new TestWorld({ JOBS_KEEP_COMPLETED: 'ingest=3' });
    try {
      await small.startWorker(['ingest']);
      const ids: string[] = [];
      for (let i = 0; i < 6; i++)
        ids.push((await small.producer.enqueue('test.echo', { value: `keep-${i}` })).id);
      const ingest = small.queues.get('ingest');
      // Every job ran (each counts in the sink); only the last three are still kept.
      await eventually(async () =>
        (await small.deps.redis.hlen(small.sink)) === 6 ? true : undefined,
      );
      await eventually(async () =>
        (await ingest.getJobCounts('completed')).completed === 3 ? true : undefined,
      );
      // Jobs run 8 at a time, so which three are the last to finish is not fixed.
      const kept = await ingest.getCompleted();
      expect(kept).toHaveLength(3);
      for (const job of kept)
        expect(job.opts.removeOnComplete).toEqual({
          ...(QUEUE_DEFAULTS.ingest.job.removeOnComplete as object),
          count: 3,
        });
      const present = await Promise.all(ids.map((id) => ingest.getJob(id)));
      expect(present.filter((job) => job !== undefined)).toHaveLength(3);
    } finally {
      await small.close();
    }
  });

  it('refuses a payload that does not match the schema, naming the field, and enqueues nothing', async () => {
    const attempt = world.producer.enqueue('test.echo', { value: '', times: 99 });
    await expect(attempt).rejects.toBeInstanceOf(ValidationError);
    const err = (await attempt.catch((e: unknown) => e)) as ValidationError;
    expect(err.issues.map((i) => i.path).sort()).toEqual(['times', 'value']);
    expect(await world.queues.get('ingest').count()).toBe(0);
  });

  it('the same idempotency key gives one job that runs once', async () => {
    const a = await world.producer.enqueue('test.echo', { value: 'once' });
    const b = await world.producer.enqueue('test.echo', { value: 'once' });
    const c = await world.producer.enqueue(
      'test.echo',
      { value: 'other' },
      { idempotencyKey: 'explicit' },
    );
    const d = await world.producer.enqueue(
      'test.echo',
      { value: 'other' },
      { idempotencyKey: 'explicit' },
    );
    expect(a.id).toBe(b.id);
    expect(c.id).toBe(d.id);
    expect(c.id).not.toBe(a.id);
    await world.startWorker(['ingest']);
    await finished(world, 'ingest', a.id);
    await finished(world, 'ingest', c.id);
    // Enqueue again after completion: the retained job still holds the id, nothing reruns.
    await world.producer.enqueue('test.echo', { value: 'once' });
    const sink = await world.sinkValues();
    expect(sink['echo:once']).toBe(1);
    expect(sink['echo:other']).toBe(1);
  });

  it('a permanent error fails the job after one attempt, with its code in the reason', async () => {
    await world.startWorker(['ingest']);
    const job = await world.producer.enqueue('test.fail', { mode: 'permanent' });
    const done = await finished(world, 'ingest', job.id);
    expect(await done.getState()).toBe('failed');
    expect(done.failedReason).toBe('test_refused: refused on purpose');
    expect((await world.sinkValues())[`fail:${job.id}`]).toBe(1);
  });

  it('a transient error is retried until it succeeds', async () => {
    await world.startWorker(['ingest']);
    const job = await world.producer.enqueue('test.fail', {
      mode: 'transient',
      succeedOnAttempt: 3,
    });
    const done = await finished(world, 'ingest', job.id);
    expect(await done.getState()).toBe('completed');
    expect(done.returnvalue).toEqual({ attempt: 3 });
    expect((await world.sinkValues())[`fail:${job.id}`]).toBe(3);
  });

  it('a transient error that never clears fails after the configured attempts', async () => {
    await world.startWorker(['ingest']);
    const job = await world.producer.enqueue('test.fail', { mode: 'transient' });
    const done = await finished(world, 'ingest', job.id);
    expect(await done.getState()).toBe('failed');
    expect(done.attemptsMade).toBe(3);
    expect(done.failedReason).toBe('backend away on purpose');
  });

  it('a job of a type the worker does not know fails permanently', async () => {
    await world.startWorker(['ingest']);
    const job = await world.queues
      .get('ingest')
      .add('test.nobody', {}, { jobId: 'test.nobody.x1', attempts: 5 });
    const done = await finished(world, 'ingest', job.id!);
    expect(done.failedReason).toMatch(/^unknown_job_type/);
    expect(done.attemptsMade).toBe(1);
  });

  it('bulk enqueue validates every payload before adding any', async () => {
    await expect(
      world.producer.enqueueBulk('test.echo', [{ value: 'x1' }, { value: '' }, { value: 'x3' }]),
    ).rejects.toMatchObject({ issues: [{ path: 'payloads.1.value' }] });
    expect(await world.queues.get('ingest').count()).toBe(0);
    const jobs = await world.producer.enqueueBulk('test.echo', [{ value: 'x1' }, { value: 'x2' }]);
    expect(jobs).toHaveLength(2);
    expect(await world.queues.get('ingest').count()).toBe(2);
  });

  it('a flow parent runs after all its children and sees their results', async () => {
    await world.startWorker(['ingest', 'maintenance']);
    const flow = await world.producer.enqueueFlow({
      parent: { name: 'test.sum', payload: { label: 'f1' } },
      children: [
        { name: 'test.echo', payload: { value: 'aaa' } },
        { name: 'test.echo', payload: { value: 'bb' } },
      ],
    });
    const done = await finished(world, 'maintenance', flow.id);
    expect(await done.getState()).toBe('completed');
    expect(done.returnvalue).toEqual({ total: 5, children: 2 });
  });

  it('a child failing for good fails the parent, whose effect never happens', async () => {
    await world.startWorker(['ingest', 'maintenance']);
    const flow = await world.producer.enqueueFlow({
      parent: { name: 'test.sum', payload: { label: 'f2' } },
      children: [
        { name: 'test.echo', payload: { value: 'ok' } },
        { name: 'test.fail', payload: { mode: 'permanent' } },
      ],
    });
    const done = await finished(world, 'maintenance', flow.id);
    expect(await done.getState()).toBe('failed');
    expect((await world.sinkValues())['sum:f2']).toBeUndefined();
  });

  it('a checkpoint saved by one attempt is found by the retry, and hidden from the payload', async () => {
    // A worker that stops mid-job: the job goes back with its checkpoint.
    const first = await world.startWorker(['artifacts']);
    const job = await world.producer.enqueue('test.slow', { key: 'resume', steps: 40, stepMs: 25 });
    await eventually(
      async () => {
        const j = await world.queues.get('artifacts').getJob(job.id);
        return typeof j?.progress === 'number' && j.progress >= 25 ? true : undefined;
      },
      10_000,
      'progress 25%',
    );
    await first.stop(0); // grace 0: abort the in-flight job now
    await world.startWorker(['artifacts']);
    const done = await finished(world, 'artifacts', job.id);
    expect(await done.getState()).toBe('completed');
    const sink = await world.sinkValues();
    expect(sink['slow:resume:done']).toBe(1);
    expect(sink['slow:resume:resumed-from:2']).toBeGreaterThanOrEqual(10);
    expect(done.data).toHaveProperty('key', 'resume');
  });

  it('a graceful stop lets the in-flight job finish before closing', async () => {
    const host = await world.startWorker(['artifacts']);
    const job = await world.producer.enqueue('test.slow', {
      key: 'graceful',
      steps: 10,
      stepMs: 30,
    });
    await eventually(async () =>
      (await world.queues.get('artifacts').getJob(job.id))?.progress ? true : undefined,
    );
    await host.stop(10_000);
    const stored = await world.queues.get('artifacts').getJob(job.id);
    expect(await stored!.getState()).toBe('completed');
    expect((await world.sinkValues())['slow:graceful:done']).toBe(1);
  });
});
