import type { Config } from '../../config.js';
import {
  detectionIngestAcceptedSchema,
  detectionPageSchema,
  detectionStatsSchema,
  detectionStatusChangedSchema,
  detectionWithHistorySchema,
} from '../../domain/api/detections.js';
import { detectionIdSchema } from '../../domain/detection.js';
import {
  detectionStats,
  detectionStatsQuerySchema,
} from '../../../queues/use-cases/detection-stats.js';
import { getDetection } from '../../../queues/use-cases/get-detection.js';
import { DETECTION_KIND } from '../../../queues/use-cases/ingest-detections.js';
import {
  detectionSearchQuerySchema,
  searchDetections,
} from '../../../queues/use-cases/search-detections.js';
import {
  detectionStatusBodySchema,
  updateDetectionStatus,
} from '../../../queues/use-cases/update-detection-status.js';
import { badInput } from '../contract/openapi-fragments.js';
import { defineRoute, ok, problem } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';
import { recordIngestRoute } from './record-ingest-route.js';
import { z } from 'zod';

type DetectionDeps = Pick<ApiRouteDeps, 'producer' | 'ingest'> & {
  stores: Pick<ApiRouteDeps['stores'], 'idempotency' | 'detections'>;
};
const route = defineRoute<DetectionDeps>();

/** The path of a detection route. */
const detectionParamsSchema = z.strictObject({
  detection_id: detectionIdSchema.describe('The detection (`det_123`).'),
});
const noDetection = problem('No such detection');

/**
 * Seed 000's detections: batch ingest (detections.insert jobs, as IOC ingest), the status
 * workflow with its history, look-up, search and counts. `stats` is declared before
 * `{detection_id}` (and refused as an id), so it is never read as one.
 */
export function detectionRouteTable(config: Config) {
  return [
    recordIngestRoute(DETECTION_KIND, config, {
      operationId: 'ingestDetections',
      summary:
        "A detector's batch, split into detections.insert jobs; with a watermark, the children of one watermark.commit flow",
      accepted: detectionIngestAcceptedSchema,
      components: { record: 'Detection', body: 'DetectionIngestBody' },
    }),
    route({
      operationId: 'searchDetections',
      method: 'get',
      path: '/v1/detections',
      summary:
        'Detections newest first, filtered by severity, status, time window and indicator; cursor-paged',
      access: 'read',
      query: detectionSearchQuerySchema,
      responses: { 200: ok(detectionPageSchema, 'One page'), 400: badInput },
      handler: async ({ query }, { deps }) => ({
        status: 200,
        body: await searchDetections(query, deps.stores),
      }),
    }),
    route({
      operationId: 'detectionStats',
      method: 'get',
      path: '/v1/detections/stats',
      summary: 'Counts of detections per severity and per status',
      access: 'read',
      query: detectionStatsQuerySchema,
      responses: { 200: ok(detectionStatsSchema, 'Counts'), 400: badInput },
      handler: async ({ query }, { deps }) => ({
        status: 200,
        body: await detectionStats(query, deps.stores),
      }),
    }),
    route({
      operationId: 'getDetection',
      method: 'get',
      path: '/v1/detections/{detection_id}',
      summary: 'A detection and its status history',
      access: 'read',
      params: detectionParamsSchema,
      responses: {
        200: ok(detectionWithHistorySchema, 'The detection'),
        400: badInput,
        404: noDetection,
      },
      handler: async ({ params }, { deps }) => ({
        status: 200,
        body: await getDetection({ detectionId: params.detection_id }, deps.stores),
      }),
    }),
    route({
      operationId: 'updateDetectionStatus',
      method: 'post',
      path: '/v1/detections/{detection_id}/status',
      summary:
        "Move a detection along its workflow (seed 000's update_detection_status); the same status again is a no-op",
      access: 'ingest',
      params: detectionParamsSchema,
      body: detectionStatusBodySchema,
      bodyDescription: 'The new status, and the case it is tracked in',
      openapi: { components: { DetectionStatusBody: detectionStatusBodySchema } },
      responses: {
        200: ok(detectionStatusChangedSchema, 'The detection after the change'),
        400: badInput,
        404: noDetection,
        409: problem('The workflow does not allow this move; `detail` names from and to'),
      },
      handler: async ({ params, body }, { caller, deps }) => ({
        status: 200,
        body: await updateDetectionStatus(
          {
            detectionId: params.detection_id,
            status: body.status,
            caseId: body.case_id,
            note: body.note,
            by: caller?.name ?? 'unknown',
          },
          deps.stores,
        ),
      }),
    }),
  ];
}
