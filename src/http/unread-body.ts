import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Whether the request declares a body (a length above 0, or chunked). */
export function declaresBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** After an early answer, what may still be read and dropped before the connection is cut. */
export const LINGER = { ms: 1_000, bytes: 256 * 1024 };

/**
 * For an answer given before the body was read (401, 403, 404, 413, 415, 503): the answer
 * says `Connection: close`, and once it is flushed the connection is half-closed and then
 * cut — after LINGER.ms, or LINGER.bytes more of the body, whichever comes first — instead
 * of Node reading the whole body to keep the connection (a 1 GiB body would be a 1 GiB
 * read). Cutting at once would send a reset while the client is still writing, and a
 * client that fails its write first (Node's does) never reads the answer: the short linger
 * lets it. A no-op once the body has been read in full.
 */
export function closeUnreadBody(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete || !declaresBody(req) || res.headersSent) return;
  res.setHeader('Connection', 'close');
  const socket = req.socket as Socket & { destroySoon?: () => void };
  // Node calls destroySoon once a `Connection: close` answer is flushed: it would end the
  // socket and destroy it as soon as the end is written, unread bytes and all.
  socket.destroySoon = () => {
    socket.end();
    const start = socket.bytesRead;
    const started = Date.now();
    // Node drops the rest of the body without emitting it (req._dump): watch the socket.
    const watch = setInterval(() => {
      if (
        req.complete ||
        socket.bytesRead - start > LINGER.bytes ||
        Date.now() - started >= LINGER.ms
      ) {
        clearInterval(watch);
        socket.destroy();
      }
    }, 20);
    watch.unref();
    socket.once('close', () => clearInterval(watch));
  };
}
