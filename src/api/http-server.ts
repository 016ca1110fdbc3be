import { createServer, type RequestListener, type Server } from 'node:http';

/**
 * The HTTP server of the api and the dashboard. Headers must arrive within `bodyTimeoutMs`;
 * bodies are bounded by the app's bodyTimeout instead of Node's total request timeout, which
 * would cut off a large upload on a slow but steady link.
 */
export function createHttpServer(app: RequestListener, options: { bodyTimeoutMs: number }): Server {
  return createServer(
    {
      headersTimeout: options.bodyTimeoutMs,
      requestTimeout: 0,
      // How often Node checks headersTimeout; its default (30 s) would stretch the limit.
      connectionsCheckingInterval: 1_000,
    },
    app,
  );
}
