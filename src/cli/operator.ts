import type { Config } from '../config.js';
import { ValidationError } from '../errors/index.js';
import {
  parseOperatorArgs,
  parseRunArgs,
  parseSchedulesArgs,
  type OperatorCommand,
} from './args.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { enqueueCommand, retryAllCommand, retryCommand, statusCommand } from './job-commands.js';
import { jobsListCommand, jobsRemoveCommand, jobsShowCommand } from './job-commands.js';
import { JOB_SEARCH_SUBCOMMANDS, parseJobSearchArgs } from './job-search-args.js';
import { openOperatorContext, type CliIo, type OperatorContext } from './operator-context.js';
import { configCommand } from './config-commands.js';
import { countsCommand, pauseCommand } from './queue-commands.js';
import { runCommand } from './run-command.js';
import { schedulesCommand, schedulesListCommand } from './schedule-commands.js';
import { UsageError } from './usage-error.js';
import { watermarksGetCommand, watermarksSetCommand } from './watermark-commands.js';

/** The commands runOperatorCommand serves. */
export const OPERATOR_COMMAND_NAMES = [
  'enqueue',
  'status',
  'retry',
  'pause',
  'resume',
  'counts',
  'watermarks',
  'config',
  'run',
  'schedules',
  'iocs',
  'activities',
  'detections',
  'artifacts',
  'plans',
  'dead-letters',
  'jobs',
] as const;

/** The record families (see record-commands.ts), kept out of the job commands' start-up. */
const RECORD_COMMANDS: readonly string[] = ['iocs', 'activities', 'detections', 'artifacts'];

/**
 * Runs one operator command: parses its arguments (a usage error exits 2 before any
 * connection opens), loads the configuration, runs it and maps what it throws onto an exit
 * code — a failing payload field 2, anything else (a backend away) 1.
 */
export async function runOperatorCommand(
  command: string,
  args: string[],
  config: () => Config,
  io: CliIo = process,
): Promise<ExitCode> {
  try {
    if (command === 'run') return await runCommand(config(), parseRunArgs(args), io);
    if (command === 'schedules' && args[0] === 'list') {
      const options = parseSchedulesArgs(args.slice(1));
      const ctx = openOperatorContext(config(), io);
      try {
        await ctx.requireRedis();
        return await schedulesListCommand(ctx, options);
      } finally {
        await ctx.close();
      }
    }
    if (command === 'schedules') {
      const options = parseSchedulesArgs(args);
      return schedulesCommand(config(), options, io);
    }
    if (command === 'plans') {
      const plans = await import('./plan-commands.js');
      const parsed = (await import('./plan-args.js')).parsePlanArgs(args);
      const ctx = openOperatorContext(config(), io);
      try {
        return await plans.planCommand(ctx, parsed);
      } finally {
        await ctx.close();
      }
    }
    if (command === 'dead-letters') {
      const letters = await import('./dead-letter-commands.js');
      const parsed = letters.parseDeadLetterArgs(args);
      const ctx = openOperatorContext(config(), io);
      try {
        return await letters.deadLetterCommand(ctx, parsed);
      } finally {
        await ctx.close();
      }
    }
    if (command === 'jobs' && JOB_SEARCH_SUBCOMMANDS.includes(args[0] ?? '')) {
      const parsed = parseJobSearchArgs(args);
      const ctx = openOperatorContext(config(), io);
      try {
        await ctx.requireRedis();
        if (parsed.command === 'jobs-list') return await jobsListCommand(ctx, parsed);
        if (parsed.command === 'jobs-show') return await jobsShowCommand(ctx, parsed);
        return await jobsRemoveCommand(ctx, parsed);
      } finally {
        await ctx.close();
      }
    }
    // `jobs cancel` (src/cli/job-cancel-command.ts).
    if (command === 'jobs' && args[0] === 'cancel') {
      const cancel = await import('./job-cancel-command.js');
      const parsed = cancel.parseJobCancelArgs(args.slice(1));
      const ctx = openOperatorContext(config(), io);
      try {
        await ctx.requireRedis();
        return await cancel.jobCancelCommand(ctx, parsed);
      } finally {
        await ctx.close();
      }
    }
    if (RECORD_COMMANDS.includes(command)) {
      const records = await import('./record-commands.js');
      const parsed = records.parseRecordArgs(command, args);
      const ctx = openOperatorContext(config(), io);
      try {
        return await records.runRecordCommand(ctx, parsed);
      } finally {
        await ctx.close();
      }
    }
    const parsed = parseOperatorArgs(command, args);
    const ctx = openOperatorContext(config(), io);
    try {
      // Watermarks live in PostgreSQL only; every other command needs the queue Redis.
      if (!parsed.command.startsWith('watermarks') && !parsed.command.startsWith('config')) {
        await ctx.requireRedis();
      }
      return await dispatch(ctx, parsed);
    } finally {
      await ctx.close();
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`${err.message}\nsee \`stowage\` for usage\n`);
      return EXIT.usage;
    }
    if (err instanceof ValidationError) {
      // The message names every failing field (`iocs.0.confidence: …`).
      io.stderr.write(`${command}: ${err.message}\n`);
      return EXIT.usage;
    }
    io.stderr.write(`${command} failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.failure;
  }
}

function dispatch(ctx: OperatorContext, cmd: OperatorCommand): Promise<ExitCode> {
  switch (cmd.command) {
    case 'enqueue':
      return enqueueCommand(ctx, cmd);
    case 'status':
      return statusCommand(ctx, cmd);
    case 'retry':
      return retryCommand(ctx, cmd);
    case 'retry-all':
      return retryAllCommand(ctx, cmd);
    case 'pause':
    case 'resume':
      return pauseCommand(ctx, cmd);
    case 'counts':
      return countsCommand(ctx, cmd);
    case 'watermarks-get':
      return watermarksGetCommand(ctx, cmd);
    case 'watermarks-set':
      return watermarksSetCommand(ctx, cmd);
    case 'config-get':
    case 'config-set':
    case 'config-list':
      return configCommand(ctx, cmd);
  }
}
