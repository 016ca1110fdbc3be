import type { IncomingMessage, ServerResponse } from 'node:http';

/** Whether the request declares a body (a length above 0, or chunked). */
export function declaresBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/**
 * For an answer given before the body was read (401, 403, 404, 413, 415): the answer says
 * `Connection: close`, and Node then closes the connection once the answer is flushed
 * instead of reading the rest of the body to keep the connection (which a 1 GiB body would
 * make a 1 GiB read). Only what is already in flight is read; the client sees the answer
 * and then the connection end. A no-op once the body has been read in full.
 */
export function closeUnreadBody(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete || !declaresBody(req) || res.headersSent) return;
  res.setHeader('Connection', 'close');
}
