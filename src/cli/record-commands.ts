import { parseActivityArgs, type ActivityCommand } from './activity-args.js';
import { activityCommand } from './activity-commands.js';
import { parseArtifactArgs, type ArtifactCommand } from './artifact-args.js';
import { artifactCommand } from './artifact-commands.js';
import { parseDetectionArgs, type DetectionCommand } from './detection-args.js';
import { detectionCommand } from './detection-commands.js';
import type { ExitCode } from './exit-codes.js';
import { parseIocArgs, type IocCommand } from './ioc-args.js';
import { iocCommand } from './ioc-commands.js';
import type { OperatorContext } from './operator-context.js';
import { UsageError } from './usage-error.js';

// Loaded only when a record command runs, so that the job commands start no slower.

/** A record command, parsed and checked; what is left to check needs a backend. */
export type RecordCommand = IocCommand | ActivityCommand | DetectionCommand | ArtifactCommand;

/** Parses `stowage iocs|activities|detections|artifacts …`; a usage error names the flag. */
export function parseRecordArgs(command: string, args: string[]): RecordCommand {
  switch (command) {
    case 'iocs':
      return parseIocArgs(args);
    case 'activities':
      return parseActivityArgs(args);
    case 'detections':
      return parseDetectionArgs(args);
    case 'artifacts':
      return parseArtifactArgs(args);
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/** Runs a parsed record command; its backends are the hot store, PostgreSQL and S3, never a queue. */
export function runRecordCommand(ctx: OperatorContext, cmd: RecordCommand): Promise<ExitCode> {
  switch (cmd.command) {
    case 'iocs-search':
    case 'iocs-stats':
    case 'iocs-get':
    case 'iocs-delete':
    case 'iocs-export-stix':
    case 'iocs-export-misp':
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
