import { z } from 'zod';

/** `200` of `GET /health`: the process runs. */
export const healthSchema = z.strictObject({ status: z.literal('healthy') });

/** `200` of `GET /ready`: every backend answers. */
export const readinessSchema = z.strictObject({
  status: z.literal('ready'),
  backends: z.record(z.string(), z.enum(['up', 'down'])),
});

/** `200` of `GET /metrics`: the Prometheus text exposition format. */
export const metricsTextSchema = z.string().describe('Prometheus text format 0.0.4');

/** `200` of `GET /openapi.json`: an OpenAPI 3.1 document. */
export const openApiDocumentSchema = z
  .looseObject({
    openapi: z.literal('3.1.0'),
    info: z.looseObject({ title: z.string(), version: z.string() }),
    paths: z.record(z.string(), z.record(z.string(), z.unknown())),
    components: z.looseObject({}),
  })
  .describe('OpenAPI 3.1');
