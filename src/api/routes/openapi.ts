import { openApiDocumentSchema } from '../../domain/api/health.js';
import { defineRoute, ok } from '../route.js';
import type { ApiRouteDeps } from '../route-deps.js';

const route = defineRoute<Pick<ApiRouteDeps, 'openApi'>>();

/** `GET /openapi.json`: the document, without a key, like /health. */
export const openapiRouteTable = [
  route({
    operationId: 'openapi',
    method: 'get',
    path: '/openapi.json',
    summary: 'This document',
    access: 'public',
    responses: { 200: ok(openApiDocumentSchema, 'OpenAPI 3.1') },
    handler: (_input, { deps }) => ({ status: 200, body: deps.openApi }),
  }),
];
