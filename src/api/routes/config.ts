import { z } from 'zod';
import {
  configEntryViewSchema,
  configListSchema,
  toConfigEntryView,
  toConfigKeyView,
} from '../../domain/api/config-entries.js';
import {
  configKeySchema,
  configPutBodySchema,
  MAX_CONFIG_LIST_LIMIT,
} from '../../domain/config-entry.js';
import { ConfigVersionConflictError } from '../../errors/config-version-conflict-error.js';
import { problemSchema } from '../../domain/api/problem.js';
import { problemDocument } from '../../http/problem.js';
import { getConfig } from '../../../queues/use-cases/get-config.js';
import { listConfig } from '../../../queues/use-cases/list-config.js';
import { setConfig } from '../../../queues/use-cases/set-config.js';
import { defineRoute, ok, problem } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';

const keyParamsSchema = z.strictObject({
  key: configKeySchema.describe('The configuration key (`notification_rules`).'),
});

const getQuerySchema = z.strictObject({
  version: z.coerce
    .number()
    .int()
    .min(1)
    .max(2_147_483_647)
    .optional()
    .describe('A past (or the current) version; absent: the current one.'),
});

const listQuerySchema = z.strictObject({
  cursor: configKeySchema.optional().describe('The `next_cursor` of the previous page.'),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_CONFIG_LIST_LIMIT)
    .default(100)
    .describe(`Keys per page (1..${MAX_CONFIG_LIST_LIMIT}, default 100).`),
});

type ConfigDeps = { stores: Pick<ApiRouteDeps['stores'], 'configStore'> };
const route = defineRoute<ConfigDeps>();
const badInput = problem('Bad input; `errors` names each failing field');

/**
 * The configuration store (seed 000's set_config/get_config): JSON values under named keys,
 * versioned. Reading needs `read`; writing needs `admin` and names the version it replaces.
 */
export const configRouteTable = [
  route({
    operationId: 'listConfig',
    method: 'get',
    path: '/v1/config',
    summary: 'Configuration keys in byte order with their current versions (no values)',
    access: 'read',
    query: listQuerySchema,
    responses: { 200: ok(configListSchema, 'One page of keys'), 400: badInput },
    handler: async ({ query }, { deps }) => {
      const page = await listConfig(
        { cursor: query.cursor, limit: query.limit },
        { config: deps.stores.configStore },
      );
      return {
        status: 200,
        body: { keys: page.keys.map(toConfigKeyView), next_cursor: page.nextCursor ?? null },
      };
    },
  }),
  route({
    operationId: 'getConfig',
    method: 'get',
    path: '/v1/config/{key}',
    summary: "A configuration key's value (the current version, or `?version=N`)",
    access: 'read',
    params: keyParamsSchema,
    query: getQuerySchema,
    responses: {
      200: ok(configEntryViewSchema, 'The value and its version'),
      400: badInput,
      404: problem('No such key (or no such version of it); `errors` names which'),
    },
    handler: async ({ params, query }, { deps }) => ({
      status: 200,
      body: toConfigEntryView(
        await getConfig(
          { key: params.key, version: query.version },
          { config: deps.stores.configStore },
        ),
      ),
    }),
  }),
  route({
    operationId: 'setConfig',
    method: 'put',
    path: '/v1/config/{key}',
    summary:
      'Write a configuration value (admin), naming the version it replaces (0 or none creates the key)',
    access: 'admin',
    params: keyParamsSchema,
    body: configPutBodySchema,
    bodyDescription: 'The value and the version it replaces',
    openapi: { components: { ConfigPutBody: configPutBodySchema } },
    responses: {
      200: ok(configEntryViewSchema, 'The new version'),
      201: ok(configEntryViewSchema, 'The key was created (version 1)'),
      400: badInput,
      409: ok(
        problemSchema,
        'The version named is not the current one; `current_version` is',
        'application/problem+json',
      ),
      413: problem('The value is over 64 KiB as JSON; `errors` names `value`'),
    },
    handler: async ({ params, body }, { caller, deps }) => {
      try {
        const written = await setConfig(
          {
            key: params.key,
            value: body.value,
            version: body.version,
            updatedBy: caller?.name ?? 'unknown',
          },
          { config: deps.stores.configStore },
        );
        return {
          status: written.created ? 201 : 200,
          body: toConfigEntryView(written.entry),
        };
      } catch (err) {
        if (!(err instanceof ConfigVersionConflictError)) throw err;
        return {
          status: 409,
          type: 'application/problem+json',
          body: problemDocument({
            status: 409,
            code: err.code,
            detail: err.message,
            errors: err.issues ?? [],
            current_version: err.currentVersion,
          }),
        };
      }
    },
  }),
];
