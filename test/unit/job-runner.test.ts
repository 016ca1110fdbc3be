// The job runner on its own: a Job-shaped object stands in for BullMQ's (no process boundary).
import { UnrecoverableError, type Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob, type JobContext } from '../../jobs/job-definition.js';
import { JobRegistry } from '../../jobs/job-registry.js';
import { CHECKPOINT_KEY } from '../../jobs/checkpoint.js';
import { META_KEY } from '../../jobs/job-meta.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import {
  MAX_JOB_LOG_LINES,
  MAX_JOB_LOG_LINE_CHARS,
  createJobRunner,
  type HandlerTable,
} from '../../workers/job-runner.js';

type Line = Record<string, unknown> & { msg: string };

const quietJob = defineJob({
  name: 'test.quiet',
  queue: 'ingest',
  description: 'Returns without logging.',
  scope: 'ingest',
  payload: z.strictObject({ n: z.number().int() }),
  fixture: { n: 0 },
});
const chattyJob = defineJob({
  name: 'test.chatty',
  queue: 'ingest',
  description: 'Logs a line, reads and saves its checkpoint.',
  scope: 'ingest',
  payload: z.strictObject({ n: z.number().int() }),
  fixture: { n: 0 },
});

/** A BullMQ job as the runner reads it, recording what the runner writes back. */
function fakeJob(name: string, data: Record<string, unknown>, attemptsMade = 0) {
  const written: { data: unknown[] } = { data: [] };
  const job = {
    id: `${name}-1`,
    name,
    data,
    attemptsMade,
    opts: { attempts: 3 },
    updateProgress: () => Promise.resolve(),
    updateData: (d: unknown) => {
      written.data.push(d);
      return Promise.resolve();
    },
    getChildrenValues: () => Promise.resolve({}),
  };
  return { job: job as unknown as Job, written };
}

function runner(handlers: HandlerTable) {
  const lines: Line[] = [];
  const log = createLogger(
    { LOG_LEVEL: 'info', LOG_PRETTY: false },
    { process: 'worker' },
    {
      write: (line: string) => void lines.push(JSON.parse(line) as Line),
    },
  );
  const run = createJobRunner({
    queue: 'ingest',
    registry: new JobRegistry([quietJob, chattyJob] as const),
    handlers,
    log,
    metrics: createMetrics({ role: 'worker', defaultMetrics: false }),
    shutdownSignal: new AbortController().signal,
  });
  return { run, lines };
}

/** A line without what varies from run to run. */
const stable = ({ time: _t, ms: _m, ...rest }: Line) => rest;

describe('job runner', () => {
  it('writes the same `job completed` line whether or not the handler logged', async () => {
    const seen: JobContext[] = [];
    const { run, lines } = runner({
      'test.quiet': (_p, ctx) => {
        seen.push(ctx);
        return Promise.resolve('quiet');
      },
      'test.chatty': (_p, ctx) => {
        ctx.log.info({ step: 1 }, 'working');
        return Promise.resolve('chatty');
      },
    });
    expect(await run(fakeJob('test.quiet', { n: 1 }, 1).job)).toBe('quiet');
    expect(await run(fakeJob('test.chatty', { n: 1 }, 1).job)).toBe('chatty');

    const completed = lines.filter((l) => l.msg === 'job completed').map(stable);
    const fields = { process: 'worker', queue: 'ingest', attempt: 2, level: 30 };
    expect(completed).toEqual([
      {
        ...fields,
        pid: process.pid,
        jobId: 'test.quiet-1',
        type: 'test.quiet',
        msg: 'job completed',
      },
      {
        ...fields,
        pid: process.pid,
        jobId: 'test.chatty-1',
        type: 'test.chatty',
        msg: 'job completed',
      },
    ]);
    // Same keys in the same order: a log shipper sees one shape.
    expect(Object.keys(completed[0]!)).toEqual(Object.keys(completed[1]!));
    expect(lines.find((l) => l.msg === 'working')).toMatchObject({
      queue: 'ingest',
      jobId: 'test.chatty-1',
      type: 'test.chatty',
      attempt: 2,
      step: 1,
    });
    // The context the handler kept still logs with the job's fields after the job ended.
    seen[0]!.log.info('late');
    expect(lines.at(-1)).toMatchObject({ msg: 'late', jobId: 'test.quiet-1', attempt: 2 });
  });

  it('hands the checkpoint beside the payload and saves a new one with the payload', async () => {
    let checkpoint: unknown;
    const { run } = runner({
      'test.chatty': async (payload: { n: number }, ctx) => {
        checkpoint = ctx.checkpoint;
        await ctx.saveCheckpoint({ done: payload.n + 1 });
      },
    });
    const { job, written } = fakeJob('test.chatty', { n: 4, [CHECKPOINT_KEY]: { done: 3 } });
    await run(job);
    expect(checkpoint).toEqual({ done: 3 });
    expect(written.data).toEqual([{ n: 4, [CHECKPOINT_KEY]: { done: 5 } }]);
    // The job's own data is left as BullMQ gave it.
    expect(job.data).toEqual({ n: 4, [CHECKPOINT_KEY]: { done: 3 } });
  });

  it('parses the payload without its $meta, hands the meta to the handler and keeps it in a checkpoint', async () => {
    let meta: unknown;
    const { run } = runner({
      'test.chatty': async (_payload: { n: number }, ctx) => {
        meta = ctx.meta;
        await ctx.saveCheckpoint({ done: 1 });
      },
    });
    const $meta = { enqueued_by: 'bot', tenant: 'acme', tags: ['source:otx'] };
    const { job, written } = fakeJob('test.chatty', { n: 4, [META_KEY]: $meta });
    // Real payload schemas are strict (an unknown key is refused): $meta never reaches them.
    await run(job);
    expect(meta).toEqual($meta);
    expect(written.data).toEqual([{ n: 4, [META_KEY]: $meta, [CHECKPOINT_KEY]: { done: 1 } }]);
  });

  it('fails a payload its schema refuses for good, logging the job it was', async () => {
    const { run, lines } = runner({ 'test.quiet': () => Promise.resolve() });
    await expect(run(fakeJob('test.quiet', { n: 'one' }).job)).rejects.toBeInstanceOf(
      UnrecoverableError,
    );
    await expect(run(fakeJob('test.unknown', {}).job)).rejects.toThrow(/unknown_job_type/);
    const failed = lines.filter((l) => l.msg.startsWith('job failed permanently'));
    expect(failed).toHaveLength(2);
    expect(failed[0]).toMatchObject({ queue: 'ingest', jobId: 'test.quiet-1', attempt: 1 });
    expect(failed[1]).toMatchObject({ type: 'test.unknown', code: 'unknown_job_type' });
  });

  it("notes go to the job's log redacted, cut and capped, and a log write that fails fails no job", async () => {
    const { run, lines } = runner({
      'test.chatty': (payload: { n: number }, ctx) => {
        ctx.note('fetching https://files.example.com/a.bin?X-Amz-Signature=abcdef0123');
        ctx.note('x'.repeat(MAX_JOB_LOG_LINE_CHARS + 50));
        for (let i = 0; i < payload.n; i++) ctx.note(`step ${i}`);
        return Promise.resolve('done');
      },
    });
    const logged: string[] = [];
    const { job } = fakeJob('test.chatty', { n: MAX_JOB_LOG_LINES + 20 });
    Object.assign(job, {
      log: (line: string) => Promise.resolve(logged.push(line)),
    });
    expect(await run(job)).toBe('done');
    await new Promise((resolve) => setImmediate(resolve));
    const notes = logged.map((line) => line.slice(line.indexOf(' ') + 1));
    expect(notes).toHaveLength(MAX_JOB_LOG_LINES);
    expect(notes[0]).toBe('fetching https://files.example.com/a.bin?[redacted]');
    expect(notes[1]).toBe(`${'x'.repeat(MAX_JOB_LOG_LINE_CHARS)}… (cut)`);
    expect(notes[2]).toBe('step 0');
    expect(notes.at(-1)).toBe(`${MAX_JOB_LOG_LINES} log lines: later ones are dropped`);

    // A retry whose earlier attempts filled the log writes one line, learns the count, stops.
    const retried: string[] = [];
    const again = fakeJob('test.chatty', { n: 5 }, 1).job;
    Object.assign(again, {
      log: (line: string) => Promise.resolve(MAX_JOB_LOG_LINES + retried.push(line)),
    });
    const { run: run2 } = runner({
      'test.chatty': async (_p, ctx) => {
        ctx.note('first');
        await new Promise((resolve) => setImmediate(resolve));
        ctx.note('second');
        return 'done';
      },
    });
    expect(await run2(again)).toBe('done');
    expect(retried.map((l) => l.slice(l.indexOf(' ') + 1))).toEqual(['first']);

    // Redis refusing the write (or a job with no log at all) leaves the job's outcome alone.
    const broken = fakeJob('test.chatty', { n: 3 }).job;
    Object.assign(broken, { log: () => Promise.reject(new Error('OOM command not allowed')) });
    expect(await run(broken)).toBe('done');
    expect(await run(fakeJob('test.chatty', { n: 1 }).job)).toBe('done');
    await new Promise((resolve) => setImmediate(resolve));
    const warned = lines.filter((l) => l.msg === 'job log line not written (the job goes on)');
    // Once per attempt, not once per line.
    expect(warned).toHaveLength(2);
  });
});
