import type { RequestHandler } from 'express';
import { sendProblem } from '../http/problem.js';

/** How slow a request body may be. */
export interface BodyTimeout {
  /** A body that brings nothing for this long is cut off. */
  ms: number;
  /** Each byte received buys this rate's worth of time, never more than `ms` ahead. */
  minBytesPerSecond: number;
}

/** The rate below which a body counts as trickling (in the manner of Apache's mod_reqtimeout). */
export const MIN_BODY_BYTES_PER_SECOND = 1024;

/**
 * Bounds the time a request body may take: the deadline starts `ms` ahead and each byte
 * received moves it by 1/minBytesPerSecond s, capped at `ms` from now. A client that stalls
 * or trickles is answered 408 and its connection closed, so it cannot hold a connection,
 * a body parser or a spool file open. The socket's byte count is read once a second rather
 * than listening for data, which would take the body from the route that reads it.
 */
export function bodyTimeout(limits: BodyTimeout): RequestHandler {
  return (req, res, next) => {
    const declared = req.headers['content-length'];
    const hasBody =
      (declared !== undefined && declared !== '0') ||
      req.headers['transfer-encoding'] !== undefined;
    if (!hasBody || req.complete) {
      next();
      return;
    }
    const socket = req.socket;
    let read = socket.bytesRead;
    let deadline = Date.now() + limits.ms;
    const timer = setInterval(() => {
      const now = Date.now();
      const received = socket.bytesRead - read;
      read = socket.bytesRead;
      deadline = Math.min(deadline + (received * 1000) / limits.minBytesPerSecond, now + limits.ms);
      if (now < deadline) return;
      stop();
      // The request, not just its socket: once answered, a request no longer hears of its
      // socket closing, and a route still reading it (into the spool) would wait forever.
      if (res.headersSent) {
        req.destroy();
        return;
      }
      res.setHeader('Connection', 'close');
      res.once('finish', () => req.destroy());
      sendProblem(res, {
        status: 408,
        code: 'request_timeout',
        detail: `the request body stalled or came slower than ${limits.minBytesPerSecond} bytes/s`,
        errors: [{ path: '(body)', message: 'sent too slowly' }],
      });
    }, 1_000);
    timer.unref();
    const stop = () => clearInterval(timer);
    req.once('end', stop);
    // Not on the answer's end: after an early answer (a 401, say) the body may still stall.
    req.once('close', stop);
    next();
  };
}
