import { z } from 'zod';
import type { DetectionPage } from '../../src/domain/api/detections.js';
import { DETECTION_STATUSES, detectionIdSchema, SEVERITIES } from '../../src/domain/detection.js';
import { MAX_IOC_VALUE_LENGTH } from '../../src/domain/ioc.js';
import { unboundedTimestampSchema } from '../../src/domain/timestamp.js';
import { ValidationError } from '../../src/errors/index.js';
import type {
  DetectionCursor,
  PostgresDetectionStore,
} from '../../src/stores/postgres/detection-store.js';
import { detectionView } from './detection-views.js';

/** Largest page a search answers. */
export const MAX_DETECTION_PAGE = 1_000;
/** A page when the caller names no limit (seed 000's example asks for 50). */
export const DEFAULT_DETECTION_PAGE = 50;

/** The query of `GET /v1/detections` (strings, as a query string carries them). */
export const detectionSearchQuerySchema = z.strictObject({
  severity: z.enum(SEVERITIES).optional(),
  status: z.enum(DETECTION_STATUSES).optional(),
  since: unboundedTimestampSchema.optional().describe('Detections at or after this instant.'),
  until: unboundedTimestampSchema.optional().describe('Detections before this instant.'),
  ioc_value: z
    .string()
    .trim()
    .min(1)
    .max(MAX_IOC_VALUE_LENGTH)
    .optional()
    .describe('The exact indicator (as given, or lower-cased).'),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_DETECTION_PAGE)
    .default(DEFAULT_DETECTION_PAGE)
    .describe(`Page size, at most ${MAX_DETECTION_PAGE}.`),
  cursor: z.string().max(400).optional().describe('`next_cursor` of the previous page.'),
});

/** A search as the use case takes it. */
export type DetectionSearch = z.output<typeof detectionSearchQuerySchema>;

/** The opaque cursor of the row a page ended on. */
export function encodeDetectionCursor(cursor: DetectionCursor): string {
  return Buffer.from(
    JSON.stringify([cursor.timestamp.toISOString(), cursor.detection_id]),
  ).toString('base64url');
}

const cursorSchema = z.tuple([z.iso.datetime(), detectionIdSchema]);

/** The position a cursor names; a ValidationError on `cursor` when it is not one of ours. */
export function decodeDetectionCursor(cursor: string): DetectionCursor {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    raw = undefined;
  }
  const parsed = cursorSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ValidationError([{ path: 'cursor', message: 'not a cursor this api gave out' }]);
  }
  return { timestamp: new Date(parsed.data[0]), detection_id: parsed.data[1] };
}

/**
 * One page of detections, newest first by (timestamp, detection_id), filtered by severity,
 * status, time window and indicator; `next_cursor` continues after its last row. Bounded by
 * the limit cap; each filter has an index ending in the page order.
 */
export async function searchDetections(
  search: DetectionSearch,
  deps: { detections: Pick<PostgresDetectionStore, 'search'> },
): Promise<DetectionPage> {
  if (search.since && search.until && search.until <= search.since) {
    throw new ValidationError([{ path: 'until', message: 'must be after since' }]);
  }
  const after = search.cursor === undefined ? undefined : decodeDetectionCursor(search.cursor);
  const values =
    search.ioc_value === undefined
      ? undefined
      : [...new Set([search.ioc_value, search.ioc_value.toLowerCase()])];
  const { detections, more } = await deps.detections.search(
    {
      severity: search.severity,
      status: search.status,
      since: search.since,
      until: search.until,
      iocValues: values,
    },
    { limit: search.limit, after },
  );
  const last = detections.at(-1);
  return {
    detections: detections.map(detectionView),
    next_cursor: more && last ? encodeDetectionCursor(last) : null,
  };
}
