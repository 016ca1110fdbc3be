import { Router } from 'express';
import type { AnyJobDefinition } from '../../../jobs/job-definition.js';
import type { Producer } from '../../../queues/producer.js';
import type { QueueSet } from '../../../queues/queue-set.js';
import {
  enqueueIngest,
  ingestKey,
  parseIngest,
  type IngestLimits,
} from '../../../queues/use-cases/ingest-iocs.js';
import type { RedisIdempotencyStore } from '../../stores/redis/idempotency-store.js';
import { requireScope } from '../../http/auth.js';
import { answerIdempotently, sendIdempotentResult } from '../idempotent-request.js';
import { readIdempotencyKey } from './jobs.js';

export { ingestBodySchema, type IngestLimits } from '../../../queues/use-cases/ingest-iocs.js';

/**
 * `POST /v1/ingest/iocs`: a collector's batch (queues/use-cases/ingest-iocs.ts), answered at
 * most once per Idempotency-Key; without a header the batch's own digest is its key.
 */
export function ingestRoutes(
  producer: Producer<readonly AnyJobDefinition[]>,
  _queues: QueueSet,
  limits: IngestLimits,
  idempotency: RedisIdempotencyStore,
): Router {
  const router = Router();

  router.post('/v1/ingest/iocs', requireScope('ingest'), async (req, res) => {
    const batch = parseIngest(req.body, limits);
    const key = ingestKey(batch, readIdempotencyKey(req));
    const route = 'POST /v1/ingest/iocs';
    const result = await answerIdempotently(
      res,
      idempotency,
      { key, route, request: batch.request },
      async (scoped) => {
        // A key is always given here (the header's or the batch digest), so scoped is too.
        if (scoped === undefined) throw new Error('ingest: an idempotency key is always set');
        const body = await enqueueIngest(producer, batch, {
          key: scoped.key,
          keyScope: scoped.scope,
        });
        return 'status_url' in body
          ? { status: 202, location: body.status_url, body }
          : { status: 202, body };
      },
    );
    sendIdempotentResult(res, result);
  });

  return router;
}
