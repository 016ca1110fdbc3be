import { ConflictError, NotFoundError } from '../errors/index.js';
import { detectionStats } from '../../queues/use-cases/detection-stats.js';
import { getDetection } from '../../queues/use-cases/get-detection.js';
import { searchDetections } from '../../queues/use-cases/search-detections.js';
import { updateDetectionStatus } from '../../queues/use-cases/update-detection-status.js';
import { DETECTION_FLAGS, type DetectionCommand } from './detection-args.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { writeJson, type OperatorContext } from './operator-context.js';
import { osUser } from './os-user.js';
import { asUsage } from './record-flags.js';

/** `stowage detections list|show|status|stats`: detections in PostgreSQL, as the api answers. */
export async function detectionCommand(
  ctx: OperatorContext,
  cmd: DetectionCommand,
): Promise<ExitCode> {
  const store = { detections: ctx.deps.detections };
  await ctx.deps.checkSchema(); // no DDL from an operator command: `stowage init` owns the schema
  try {
    switch (cmd.command) {
      case 'detections-list':
        writeJson(
          ctx.io,
          await asUsage('detections list', DETECTION_FLAGS.list, () =>
            searchDetections(cmd.query, store),
          ),
        );
        return EXIT.ok;
      case 'detections-show':
        writeJson(ctx.io, await getDetection({ detectionId: cmd.detectionId }, store));
        return EXIT.ok;
      case 'detections-status':
        // Whoever can run the operator CLI against the database may move a detection (as for config set).
        writeJson(
          ctx.io,
          await updateDetectionStatus(
            {
              detectionId: cmd.detectionId,
              status: cmd.body.status,
              caseId: cmd.body.case_id,
              note: cmd.body.note,
              by: `cli:${cmd.by ?? osUser()}`,
            },
            store,
          ),
        );
        return EXIT.ok;
      case 'detections-stats':
        writeJson(ctx.io, await detectionStats(cmd.query, store));
        return EXIT.ok;
    }
  } catch (err) {
    // Not found, or a move the workflow refuses (the message names from and to): exit 1.
    if (err instanceof NotFoundError || err instanceof ConflictError) {
      ctx.io.stderr.write(`${err.message}\n`);
      return EXIT.failure;
    }
    throw err;
  }
}
