import { z } from 'zod';
import {
  deadLetterPageSchema,
  deadLetterRetriedSchema,
  deadLettersPurgedSchema,
  deadLetterViewSchema,
} from '../../domain/api/dead-letters.js';
import {
  deadLetterIdSchema,
  deadLetterListQuerySchema,
  deadLetterPurgeBodySchema,
  getDeadLetter,
  listDeadLetters,
  purgeDeadLetters,
  removeDeadLetter,
  retryDeadLetter,
} from '../../../queues/use-cases/dead-letters.js';
import { badInput } from '../contract/openapi-fragments.js';
import { defineRoute, ok, problem } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';

type DeadLetterDeps = Pick<ApiRouteDeps, 'registry' | 'jobQueues'> & {
  stores: Pick<ApiRouteDeps['stores'], 'deadLetters'>;
};
const route = defineRoute<DeadLetterDeps>();

const idParams = z.strictObject({ id: deadLetterIdSchema.describe('The dead letter.') });
const noDeadLetter = problem('No such dead letter');

/**
 * The dead-letter store: list and read (read scope), retry, remove and purge (admin). `purge`
 * is a POST of its own, so no id route can read it as an id.
 */
export const deadLetterRouteTable = [
  route({
    operationId: 'listDeadLetters',
    method: 'get',
    path: '/v1/dead-letters',
    summary:
      'Jobs that failed for good, newest first, by queue, type, tenant and age; cursor-paged',
    access: 'read',
    query: deadLetterListQuerySchema,
    responses: { 200: ok(deadLetterPageSchema, 'One page'), 400: badInput },
    handler: async ({ query }, { deps }) => ({
      status: 200,
      body: await listDeadLetters(query, deps.stores),
    }),
  }),
  route({
    operationId: 'purgeDeadLetters',
    method: 'post',
    path: '/v1/dead-letters/purge',
    summary: 'Remove every dead letter a filter covers (admin)',
    access: 'admin',
    body: deadLetterPurgeBodySchema,
    bodyDescription: 'The filter (or `"all": true`)',
    openapi: { components: { DeadLetterPurgeBody: deadLetterPurgeBodySchema } },
    responses: { 200: ok(deadLettersPurgedSchema, 'How many went'), 400: badInput },
    handler: async ({ body }, { deps }) => ({
      status: 200,
      body: await purgeDeadLetters(body, deps.stores),
    }),
  }),
  route({
    operationId: 'getDeadLetter',
    method: 'get',
    path: '/v1/dead-letters/{id}',
    summary: 'One dead letter: stored data (redacted), reason, stack, attempts and times',
    access: 'read',
    params: idParams,
    responses: {
      200: ok(deadLetterViewSchema, 'The dead letter'),
      400: badInput,
      404: noDeadLetter,
    },
    handler: async ({ params }, { deps }) => ({
      status: 200,
      body: await getDeadLetter({ id: params.id }, deps.stores),
    }),
  }),
  route({
    operationId: 'retryDeadLetter',
    method: 'post',
    path: '/v1/dead-letters/{id}/retry',
    summary:
      'Run a dead letter again (admin): the original job when still failed in its queue, else a new job of the same data; once',
    access: 'admin',
    params: idParams,
    responses: {
      200: ok(deadLetterRetriedSchema, 'The job that runs the retry'),
      400: badInput,
      404: noDeadLetter,
      409: problem('The job type is not served by this api'),
    },
    handler: async ({ params }, { deps }) => ({
      status: 200,
      body: await retryDeadLetter(
        { id: params.id },
        { deadLetters: deps.stores.deadLetters, queues: deps.jobQueues, registry: deps.registry },
      ),
    }),
  }),
  route({
    operationId: 'deleteDeadLetter',
    method: 'delete',
    path: '/v1/dead-letters/{id}',
    summary: 'Remove one dead letter (admin)',
    access: 'admin',
    params: idParams,
    responses: { 200: ok(deadLettersPurgedSchema, 'Removed'), 400: badInput, 404: noDeadLetter },
    handler: async ({ params }, { deps }) => ({
      status: 200,
      body: await removeDeadLetter({ id: params.id }, deps.stores),
    }),
  }),
];
