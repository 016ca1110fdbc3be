import { createServer, type RequestListener, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Config } from '../config.js';
import type { ErrorCode } from '../errors/error-codes.js';

/** Limits of the HTTP server of the api and the dashboard. */
export interface HttpServerLimits {
  /** Headers must arrive within this (the app bounds bodies itself). */
  bodyTimeoutMs: number;
  /** Most connections open at once; one more is closed as it is accepted. */
  maxConnections?: number;
  /** Most connections open at once from one client address (0: no cap). */
  maxConnectionsPerIp?: number;
}

/** The server limits a configuration sets (the api and the dashboard use the same). */
export function httpServerLimits(
  config: Pick<
    Config,
    'API_BODY_TIMEOUT_MS' | 'API_MAX_CONNECTIONS' | 'API_MAX_CONNECTIONS_PER_IP'
  >,
): HttpServerLimits {
  return {
    bodyTimeoutMs: config.API_BODY_TIMEOUT_MS,
    maxConnections: config.API_MAX_CONNECTIONS,
    maxConnectionsPerIp: config.API_MAX_CONNECTIONS_PER_IP,
  };
}

const OVER_PER_IP_CAP = JSON.stringify({
  type: 'https://stowage.dev/problems/too_many_connections',
  title: 'Service Unavailable',
  status: 503,
  code: 'too_many_connections' satisfies ErrorCode,
  detail: 'this client address holds too many connections (API_MAX_CONNECTIONS_PER_IP)',
});

/**
 * The HTTP server of the api and the dashboard. Headers must arrive within `bodyTimeoutMs`;
 * bodies are bounded by the app's bodyTimeout instead of Node's total request timeout, which
 * would cut off a large upload on a slow but steady link. Connections are capped in total
 * (Node's maxConnections: the extra socket is closed on accept, before it costs more than
 * its descriptor) and per client address, so that one client holding slow connections open
 * cannot take every descriptor of the process.
 */
export function createHttpServer(app: RequestListener, limits: HttpServerLimits): Server {
  const server = createServer(
    {
      headersTimeout: limits.bodyTimeoutMs,
      requestTimeout: 0,
      // How often Node checks headersTimeout; its default (30 s) would stretch the limit.
      connectionsCheckingInterval: 1_000,
    },
    app,
  );
  if (limits.maxConnections !== undefined) server.maxConnections = limits.maxConnections;
  const perIp = limits.maxConnectionsPerIp ?? 0;
  if (perIp > 0) capPerAddress(server, perIp);
  return server;
}

/** Answers 503 and closes a connection beyond `cap` open ones from the same address. */
function capPerAddress(server: Server, cap: number): void {
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const count = (open.get(address) ?? 0) + 1;
    if (count > cap) {
      refuse(socket);
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
}

/**
 * A 503 sent before the request is read, then the connection is closed: half-closed at
 * once, and destroyed a second later (a reset sent with the answer still unread could
 * destroy it at the client).
 */
function refuse(socket: Socket): void {
  socket.end(
    'HTTP/1.1 503 Service Unavailable\r\n' +
      'Content-Type: application/problem+json\r\n' +
      `Content-Length: ${Buffer.byteLength(OVER_PER_IP_CAP)}\r\n` +
      'Retry-After: 1\r\nConnection: close\r\n\r\n' +
      OVER_PER_IP_CAP,
  );
  socket.pause();
  const timer = setTimeout(() => socket.destroy(), 1_000);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
