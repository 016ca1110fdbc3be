import { Router } from 'express';
import { z } from 'zod';
import { iocSchema } from '../../domain/ioc.js';
import { timestampSchema } from '../../domain/timestamp.js';
import { sourceIdSchema } from '../../domain/watermark.js';
import { ValidationError } from '../../errors/index.js';
import type { AnyJobDefinition } from '../../../jobs/job-definition.js';
import type { Producer } from '../../../queues/producer.js';
import type { QueueSet } from '../../../queues/queue-set.js';
import { jobIdForKey } from '../../../jobs/job-id.js';
import { requestDigest, type RedisIdempotencyStore } from '../../stores/redis/idempotency-store.js';
import { requireScope } from '../auth.js';
import { answerIdempotently, sendIdempotentResult } from '../idempotent-request.js';
import { readIdempotencyKey } from './jobs.js';

/** Limits of one collector ingest request. */
export interface IngestLimits {
  maxIocs: number;
  chunkSize: number;
}

/** The body of `POST /v1/ingest/iocs`; each record is then checked by iocSchema. */
export function ingestBodySchema(limits: IngestLimits) {
  return z.strictObject({
    source_id: sourceIdSchema,
    iocs: z
      .array(z.unknown())
      .min(1, 'at least one IOC')
      .max(limits.maxIocs, `at most ${limits.maxIocs} IOCs per request`),
    watermark: z
      .strictObject({
        timestamp: timestampSchema,
        records_collected: z.number().int().min(0).optional(),
      })
      .optional(),
  });
}

/**
 * `POST /v1/ingest/iocs`: a collector's batch, validated as a whole (one bad record rejects
 * the request, naming its index and field, and nothing is enqueued), split into bounded
 * iocs.insert jobs. With a watermark, the inserts are the children of a watermark.commit
 * flow, so the watermark advances only after every insert succeeded.
 */
export function ingestRoutes(
  producer: Producer<readonly AnyJobDefinition[]>,
  queues: QueueSet,
  limits: IngestLimits,
  idempotency: RedisIdempotencyStore,
): Router {
  const router = Router();
  const body = ingestBodySchema(limits);

  router.post('/v1/ingest/iocs', requireScope('ingest'), async (req, res) => {
    const parsedBody = body.safeParse(req.body);
    if (!parsedBody.success) throw ValidationError.fromZod(parsedBody.error);
    const { source_id, watermark } = parsedBody.data;

    // Every record is checked before anything is enqueued; each error names its index.
    const iocs: z.output<typeof iocSchema>[] = [];
    const issues: ValidationError['issues'] = [];
    parsedBody.data.iocs.forEach((raw, i) => {
      const withSource =
        raw !== null && typeof raw === 'object' && !('source' in raw)
          ? { ...raw, source: source_id }
          : raw;
      const parsed = iocSchema.safeParse(withSource);
      if (parsed.success) iocs.push(parsed.data);
      else issues.push(...ValidationError.fromZod(parsed.error, `iocs.${i}`).issues);
    });
    if (issues.length > 0) throw new ValidationError(issues.slice(0, 100));

    const chunks: (typeof iocs)[] = [];
    for (let i = 0; i < iocs.length; i += limits.chunkSize)
      chunks.push(iocs.slice(i, i + limits.chunkSize));

    // Without a header the batch's own digest is its key: the same batch is one flow.
    const request = { source_id, watermark, iocs };
    const key = readIdempotencyKey(req) ?? requestDigest(request);
    const result = await answerIdempotently(
      res,
      idempotency,
      { key, route: 'POST /v1/ingest/iocs', request },
      async (scoped) => {
        // A key is always given here (the header's or the batch digest), so scoped is too.
        if (scoped === undefined) throw new Error('ingest: an idempotency key is always set');
        const { key, scope: keyScope } = scoped;
        if (!watermark) {
          const jobs = await producer.enqueueBulkByName(
            'iocs.insert',
            chunks.map((chunk) => ({ iocs: chunk })),
            // Each record was parsed above; the chunks are the schema's output already.
            { idempotencyKeys: chunks.map((_, i) => `${key}/${i}`), keyScope, validated: true },
          );
          return {
            status: 202,
            body: {
              source_id,
              iocs: iocs.length,
              jobs: jobs.map((j) => ({ id: j.id, type: j.name })),
            },
          };
        }

        // A retry of a request that enqueued but did not answer finds its flow already there.
        const parentId = jobIdForKey('watermark.commit', key, keyScope);
        const children = chunks.map((_, i) => jobIdForKey('iocs.insert', `${key}/${i}`, keyScope));
        const existing = await queues.get('ingest').getJob(parentId);
        if (!existing) {
          await producer.enqueueFlow({
            keyScope,
            parent: {
              name: 'watermark.commit',
              idempotencyKey: key,
              payload: {
                source_id,
                timestamp: watermark.timestamp.toISOString(),
                status: 'success',
                records_collected: watermark.records_collected ?? iocs.length,
              },
            },
            children: chunks.map((chunk, i) => ({
              name: 'iocs.insert',
              idempotencyKey: `${key}/${i}`,
              payload: { iocs: chunk },
              validated: true,
            })),
          });
        }
        return {
          status: 202,
          location: `/v1/jobs/${parentId}`,
          body: {
            id: parentId,
            type: 'watermark.commit',
            source_id,
            iocs: iocs.length,
            chunks: chunks.length,
            replayed: existing !== undefined,
            children,
            status_url: `/v1/jobs/${parentId}`,
          },
        };
      },
    );
    sendIdempotentResult(res, result);
  });

  return router;
}
