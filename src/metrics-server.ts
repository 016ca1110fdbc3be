import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

/** A running metrics listener. */
export interface MetricsServer {
  /** Base URL, e.g. http://127.0.0.1:9464 (the port is the real one when 0 was asked for). */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The small HTTP listener of processes without an api (workers): `GET /metrics` in the
 * Prometheus text format and `GET /health`, nothing else. Port 0 takes a free port.
 */
export async function startMetricsServer(options: {
  metrics: Metrics;
  port: number;
  host: string;
  log: Logger;
}): Promise<MetricsServer> {
  const { metrics, log } = options;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'healthy' }));
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    metrics.render().then(
      (body) => {
        res.writeHead(200, { 'content-type': metrics.contentType });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        log.warn({ err }, 'metrics could not be rendered');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
      },
    );
  });
  // A scrape is small; these keep a stuck client from holding a socket.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.listen(options.port, options.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  log.info({ url: `${url}/metrics`, port }, 'metrics listening');
  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
