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
import { openOperatorContext, type CliIo, type OperatorContext } from './operator-context.js';
import { configCommand } from './config-commands.js';
import { countsCommand, pauseCommand } from './queue-commands.js';
import { runCommand } from './run-command.js';
import { schedulesCommand } from './schedule-commands.js';
import { UsageError } from './usage-error.js';
import { watermarksGetCommand, watermarksSetCommand } from './watermark-commands.js';
import { activityCommand } from './activity-commands.js';
import { artifactCommand } from './artifact-commands.js';
import { detectionCommand } from './detection-commands.js';
import { iocCommand } from './ioc-commands.js';

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
] as const;

/** Commands that read stored records (hot store, PostgreSQL, buckets), never a queue. */
const RECORD_COMMANDS = ['iocs', 'activities', 'detections', 'artifacts'];

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
    if (command === 'schedules') {
      const options = parseSchedulesArgs(args);
      return schedulesCommand(config(), options, io);
    }
    const parsed = parseOperatorArgs(command, args);
    const ctx = openOperatorContext(config(), io);
    try {
      // Watermarks live in PostgreSQL only; every other command needs the queue Redis.
      if (
        !parsed.command.startsWith('watermarks') &&
        !parsed.command.startsWith('config') &&
        !RECORD_COMMANDS.includes(command)
      ) {
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
    case 'iocs-search':
    case 'iocs-stats':
    case 'iocs-get':
    case 'iocs-delete':
    case 'iocs-export-stix':
      return iocCommand(ctx, cmd);
    case 'activities-search':
    case 'activities-stats':
      return activityCommand(ctx, cmd);
    case 'detections-list':
    case 'detections-show':
    case 'detections-status':
    case 'detections-stats':
      return detectionCommand(ctx, cmd);
    case 'artifacts-get':
    case 'artifacts-head':
    case 'artifacts-delete':
      return artifactCommand(ctx, cmd);
  }
}
