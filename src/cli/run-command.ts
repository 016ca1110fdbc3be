import { writeFile } from 'node:fs/promises';
import { QueueEvents } from 'bullmq';
import type { Config } from '../config.js';
import { PermanentError } from '../errors/index.js';
import { runMaintenance, type MaintenanceRun } from '../../queues/use-cases/run-maintenance.js';
import type { RunOptions } from './args.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { openOperatorContext, type CliIo } from './operator-context.js';
import { ProgressReporter, progressDetail, progressPercent } from './progress.js';
import { terminalSafe, terminalSafeJson } from './terminal-text.js';

/**
 * `stowage run <job>`: enqueues a maintenance job now, then (unless --no-wait) follows its
 * progress events with a bar on stderr, prints its result and writes it as JSON when asked.
 * Exit code 0 when the job completed, 1 when it failed, 2 for a job that cannot be run so.
 */
export async function runCommand(
  config: Config,
  options: RunOptions,
  io: CliIo = process,
): Promise<ExitCode> {
  const ctx = openOperatorContext(config, io);
  const { registry, queues } = ctx;
  let events: QueueEvents | undefined;
  try {
    let enqueued: MaintenanceRun;
    try {
      // Without --dry-run the operator asked for a real run (a dry_run in --payload still wins).
      enqueued = await runMaintenance(
        { registry, producer: ctx.producer },
        { job: options.job, payload: options.payload, dryRun: options.dryRun },
        {
          beforeEnqueue: async ({ definition }) => {
            await ctx.requireRedis();
            if (!options.wait) return;
            // Listening before enqueueing: no progress event of the job can be missed.
            events = new QueueEvents(definition.queue, {
              connection: ctx.deps.connectRedis('run-events'),
              prefix: config.QUEUE_PREFIX,
            });
            events.on('error', () => undefined);
            await events.waitUntilReady();
          },
        },
      );
    } catch (err) {
      if (!(err instanceof PermanentError && err.code === 'unknown_job_type')) throw err;
      const known = err.context['known'];
      io.stderr.write(
        `run: unknown maintenance job "${options.job}"; one of: ${Array.isArray(known) ? known.join(', ') : ''}\n`,
      );
      return EXIT.usage;
    }
    io.stderr.write(`enqueued ${enqueued.id} on ${enqueued.queue}\n`);
    if (!events) return EXIT.ok;

    const progress = new ProgressReporter(io.stderr, { label: options.job });
    events.on('active', ({ jobId }) => {
      if (jobId === enqueued.id) progress.update(0, 'running');
    });
    events.on('progress', ({ jobId, data }) => {
      if (jobId !== enqueued.id) return;
      const percent = progressPercent(data);
      if (percent !== undefined) progress.update(percent, progressDetail(data));
    });
    const job = await queues.get(enqueued.queue).getJob(enqueued.id);
    if (!job) throw new Error(`job ${enqueued.id} vanished right after it was enqueued`);
    let result: unknown;
    try {
      result = await job.waitUntilFinished(events);
    } catch (err) {
      progress.done();
      // The failure reason is the handler's text: shown, never sent to the terminal raw.
      io.stderr.write(
        `failed: ${terminalSafe(err instanceof Error ? err.message : String(err))}\n`,
      );
      return EXIT.failure;
    }
    progress.update(100);
    progress.done();
    const text = `${terminalSafeJson(JSON.stringify(result, null, 2))}\n`;
    io.stdout.write(text);
    if (options.reportPath) await writeFile(options.reportPath, text);
    return EXIT.ok;
  } finally {
    await events?.close();
    await ctx.close();
  }
}
