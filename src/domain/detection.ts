import { z } from 'zod';
import { activitySourceSchema } from './activity-source.js';
import { IOC_TYPES, MAX_IOC_VALUE_LENGTH, normalizeIocValue } from './ioc.js';
import { timestampSchema } from './timestamp.js';

/** Seed 000's `Severity`, most severe first (its spelling: upper case). */
export const SEVERITIES = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'INFO'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Seed 000's `DetectionStatus` values, spelled as the seed spells them. */
export const DETECTION_STATUSES = [
  'New',
  'Investigating',
  'Confirmed',
  'Escalated',
  'Resolved',
  'False Positive',
  'Closed',
] as const;
export type DetectionStatus = (typeof DETECTION_STATUSES)[number];

/**
 * Where each status may move (README "Detections" shows it as a table). Nothing returns to
 * `New`; the closing states (`Resolved`, `False Positive`, `Closed`) reopen to
 * `Investigating` only, so a reopened detection is looked at again before it closes again.
 */
export const DETECTION_TRANSITIONS: Readonly<Record<DetectionStatus, readonly DetectionStatus[]>> =
  {
    New: ['Investigating', 'Confirmed', 'Escalated', 'Resolved', 'False Positive', 'Closed'],
    Investigating: ['Confirmed', 'Escalated', 'Resolved', 'False Positive', 'Closed'],
    Confirmed: ['Escalated', 'Resolved', 'Closed'],
    Escalated: ['Investigating', 'Confirmed', 'Resolved', 'False Positive', 'Closed'],
    Resolved: ['Closed', 'Investigating'],
    'False Positive': ['Closed', 'Investigating'],
    Closed: ['Investigating'],
  };

/** Whether a detection in `from` may move to `to` (the same status is not a move). */
export function canTransition(from: DetectionStatus, to: DetectionStatus): boolean {
  return DETECTION_TRANSITIONS[from].includes(to);
}

/** A higher rank is more severe (a re-sent detection keeps the most severe it was given). */
export function severityRank(severity: Severity): number {
  return SEVERITIES.length - SEVERITIES.indexOf(severity);
}

/**
 * A detection id: letters, digits and `_ . : -`, 1..128 (`det_123`). `stats` is refused: it
 * is the path of `GET /v1/detections/stats`.
 */
export const detectionIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, 'letters, digits, _ . : - (1..128)')
  .refine((id) => id !== 'stats', '"stats" is reserved');

/** A case id in a ticketing system (`INC0012345`): printable, 1..128. */
export const caseIdSchema = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(128)
  .regex(/^[^\p{Cc}]+$/u, 'no control characters');

/** An analyst's note on a status change. */
export const statusNoteSchema = z
  .string()
  .max(2000)
  .regex(/^[^\p{Cc}]*$/u, 'no control characters');

/** One detection as a detector sends it (seed 000's `Detection`): an IOC matched in an activity. */
export const detectionSchema = z
  .strictObject({
    detection_id: detectionIdSchema,
    timestamp: timestampSchema,
    ioc_value: z.string().max(MAX_IOC_VALUE_LENGTH),
    ioc_type: z.enum(IOC_TYPES),
    activity_event_id: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[^\p{Cc}]+$/u, 'no control characters'),
    activity_source: activitySourceSchema,
    severity: z.enum(SEVERITIES),
    confidence: z.number().min(0).max(1),
    first_seen: timestampSchema,
    last_seen: timestampSchema,
    /** The status of a first write only: ingest never moves a stored detection's status. */
    status: z.enum(DETECTION_STATUSES).default('New'),
    case_id: caseIdSchema.optional(),
  })
  .transform((d, ctx) => {
    const value = normalizeIocValue(d.ioc_type, d.ioc_value);
    if (value === undefined) {
      ctx.addIssue({ code: 'custom', path: ['ioc_value'], message: `not a valid ${d.ioc_type}` });
      return z.NEVER;
    }
    if (d.last_seen < d.first_seen) {
      ctx.addIssue({
        code: 'custom',
        path: ['last_seen'],
        message: 'must not be before first_seen',
      });
      return z.NEVER;
    }
    return { ...d, ioc_value: value };
  });

/** A validated detection (the IOC value normalized for its type). */
export type Detection = z.output<typeof detectionSchema>;

/**
 * Two sightings of one detection as one: the earliest timestamp and first_seen, the latest
 * last_seen, the highest confidence and severity; the rest (IOC, activity, initial status
 * and case) is the first's. Commutative on the merged fields, so replays in any order agree
 * (the store's upsert applies the same rule).
 */
export function mergeDetection(a: Detection, b: Detection): Detection {
  const min = (x: Date, y: Date) => (y < x ? y : x);
  const max = (x: Date, y: Date) => (y > x ? y : x);
  return {
    ...a,
    timestamp: min(a.timestamp, b.timestamp),
    first_seen: min(a.first_seen, b.first_seen),
    last_seen: max(a.last_seen, b.last_seen),
    confidence: Math.max(a.confidence, b.confidence),
    severity: severityRank(b.severity) > severityRank(a.severity) ? b.severity : a.severity,
  };
}

/** A batch as it is staged: one record per detection_id, merged, in id order. */
export function canonicalDetections(detections: readonly Detection[]): Detection[] {
  const byId = new Map<string, Detection>();
  for (const d of detections) {
    const seen = byId.get(d.detection_id);
    byId.set(d.detection_id, seen ? mergeDetection(seen, d) : d);
  }
  return [...byId.values()].sort((x, y) =>
    x.detection_id < y.detection_id ? -1 : x.detection_id > y.detection_id ? 1 : 0,
  );
}
