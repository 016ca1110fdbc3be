import { Router } from 'express';
import type { OpenApiDocument } from '../openapi.js';

/** `GET /openapi.json`: the document, without a key, like /health. */
export function openapiRoutes(document: OpenApiDocument): Router {
  const router = Router();
  // Serialised once: the document is fixed for the life of the process.
  const body = JSON.stringify(document);
  router.get('/openapi.json', (_req, res) => {
    res.type('application/json').send(body);
  });
  return router;
}
