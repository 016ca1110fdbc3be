import { z } from 'zod';
import { detectionIdSchema } from '../domain/detection.js';
import { detectionStatsQuerySchema } from '../../queues/use-cases/detection-stats.js';
import {
  detectionSearchQuerySchema,
  type DetectionSearch,
} from '../../queues/use-cases/search-detections.js';
import { detectionStatusBodySchema } from '../../queues/use-cases/update-detection-status.js';
import { parseRecordFlags, parseWith, type RecordFlags } from './record-flags.js';
import { UsageError } from './usage-error.js';

/** What `stowage detections …` was asked, checked with the use cases' own schemas. */
export type DetectionCommand =
  | { command: 'detections-list'; query: DetectionSearch }
  | { command: 'detections-show'; detectionId: string }
  | {
      command: 'detections-status';
      detectionId: string;
      body: z.output<typeof detectionStatusBodySchema>;
      by?: string | undefined;
    }
  | { command: 'detections-stats'; query: z.output<typeof detectionStatsQuerySchema> };

const WINDOW = { since: 'since', until: 'until' };

/** The flags of each `detections` subcommand. */
export const DETECTION_FLAGS = {
  list: {
    strings: {
      severity: 'severity',
      status: 'status',
      ioc: 'ioc_value',
      ...WINDOW,
      limit: 'limit',
      cursor: 'cursor',
    },
  },
  show: { positionals: ['detection_id'] },
  status: {
    positionals: ['detection_id', 'status'],
    strings: { 'case-id': 'case_id', note: 'note', by: 'by' },
  },
  stats: { strings: WINDOW },
} satisfies Record<string, RecordFlags>;

/** Who the history records with --by (`cli:` is prefixed, as for config set). */
const byName = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .refine((s) => !/[\p{Cc}\p{Cs}]/u.test(s), 'must not contain control characters');

const idOnly = z.strictObject({ detection_id: detectionIdSchema });

/** Parses `detections list|show|status|stats …`; a usage error names the flag. */
export function parseDetectionArgs(args: string[]): DetectionCommand {
  const [sub, ...rest] = args;
  const command = `detections ${sub ?? ''}`;
  switch (sub) {
    case 'list': {
      const spec = DETECTION_FLAGS.list;
      const { fields } = parseRecordFlags(command, rest, spec);
      return {
        command: 'detections-list',
        query: parseWith(command, spec, detectionSearchQuerySchema, fields),
      };
    }
    case 'show': {
      const spec = DETECTION_FLAGS.show;
      const { positional } = parseRecordFlags(command, rest, spec);
      const { detection_id } = parseWith(command, spec, idOnly, positional);
      return { command: 'detections-show', detectionId: detection_id };
    }
    case 'status': {
      const spec = DETECTION_FLAGS.status;
      const { fields, positional } = parseRecordFlags(command, rest, spec);
      const { by, ...bodyFields } = fields;
      const { detection_id } = parseWith(command, spec, idOnly, {
        detection_id: positional.detection_id,
      });
      const body = parseWith(command, spec, detectionStatusBodySchema, {
        ...bodyFields,
        status: positional.status,
      });
      const actor =
        by === undefined
          ? undefined
          : parseWith(command, spec, z.strictObject({ by: byName }), { by }).by;
      return { command: 'detections-status', detectionId: detection_id, body, by: actor };
    }
    case 'stats': {
      const spec = DETECTION_FLAGS.stats;
      const { fields } = parseRecordFlags(command, rest, spec);
      return {
        command: 'detections-stats',
        query: parseWith(command, spec, detectionStatsQuerySchema, fields),
      };
    }
    default:
      throw new UsageError(`detections: expected list, show, status or stats, not "${sub ?? ''}"`);
  }
}
