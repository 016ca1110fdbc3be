import { writeFile } from 'node:fs/promises';
import type { Config } from './config.js';
import { createDeps } from './deps.js';
import { createLogger } from './log.js';
import { MAINTENANCE_JOBS, supportsDryRun } from './api/routes/maintenance.js';
import { ValidationError } from './errors/index.js';
import { createJobRegistry } from '../jobs/registry.js';
import { Producer } from '../queues/producer.js';
import { QueueSet } from '../queues/queue-set.js';

/** What `stowage run` was asked. */
export interface RunOptions {
  job: string;
  dryRun: boolean;
  payload: Record<string, unknown>;
  reportPath?: string | undefined;
  wait: boolean;
}

/**
 * `stowage run <job>`: enqueues a maintenance job now, then (unless --no-wait) follows it
 * with a progress line, prints its result and writes it as JSON when asked. Exit code 0 when
 * the job completed, 1 when it failed.
 */
export async function runCommand(config: Config, options: RunOptions): Promise<number> {
  const registry = createJobRegistry();
  const definition = MAINTENANCE_JOBS.includes(options.job) ? registry.get(options.job) : undefined;
  if (!definition) {
    process.stderr.write(
      `unknown maintenance job "${options.job}"; one of: ${MAINTENANCE_JOBS.filter((n) => registry.get(n)).join(', ')}\n`,
    );
    return 2;
  }
  if (options.dryRun && !supportsDryRun(definition)) {
    process.stderr.write(`${options.job} has no dry run\n`);
    return 2;
  }
  const deps = createDeps(config, 'cli', createLogger({ ...config, LOG_LEVEL: 'warn' }));
  const queues = new QueueSet(deps.redis, config.QUEUE_PREFIX);
  const producer = new Producer(registry, queues, deps.redis);
  try {
    const payload = options.dryRun ? { ...options.payload, dry_run: true } : options.payload;
    const job = await producer.enqueueByName(options.job, payload);
    process.stderr.write(`enqueued ${job.id} on ${job.queue}\n`);
    if (!options.wait) return 0;
    const queue = queues.get(job.queue as never);
    let last = '';
    for (;;) {
      const state = await queue.getJobState(job.id);
      const current = await queue.getJob(job.id);
      const line = `${state} ${progressBar(current?.progress)}`;
      if (line !== last && process.stderr.isTTY) process.stderr.write(`\r${line}`);
      last = line;
      if (state === 'completed' || state === 'failed') {
        if (process.stderr.isTTY) process.stderr.write('\n');
        if (state === 'failed') {
          process.stderr.write(`failed: ${current?.failedReason ?? 'unknown reason'}\n`);
          return 1;
        }
        const result: unknown = current?.returnvalue;
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        if (options.reportPath)
          await writeFile(options.reportPath, `${JSON.stringify(result, null, 2)}\n`);
        return 0;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  } catch (err) {
    if (err instanceof ValidationError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  } finally {
    await producer.close();
    await queues.close();
    await deps.close();
  }
}

/** A 30-character bar for a numeric or `{ percent }` progress. */
function progressBar(progress: unknown): string {
  const percent =
    typeof progress === 'number'
      ? progress
      : typeof progress === 'object' && progress !== null && 'percent' in progress
        ? Number(progress.percent)
        : 0;
  const filled = Math.round((Math.max(0, Math.min(100, percent)) / 100) * 30);
  return `[${'#'.repeat(filled)}${'.'.repeat(30 - filled)}] ${Math.round(percent)}%`;
}
