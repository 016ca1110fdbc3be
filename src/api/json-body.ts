import { isUtf8 } from 'node:buffer';
import { json, type Request, type RequestHandler, type Response } from 'express';
import { findDuplicateKey } from './duplicate-keys.js';
import { HttpProblem, sendProblem } from '../http/problem.js';
import { closeUnreadBody } from '../http/unread-body.js';

/** Media types read as JSON request bodies. */
export const JSON_TYPES = ['application/json', 'application/*+json'];

/** Bytes of a size such as `5mb` (1 kb = 1024 b, as body-parser counts). */
export function sizeInBytes(limit: string | number): number {
  if (typeof limit === 'number') return limit;
  const match = /^(\d+)(b|kb|mb)$/i.exec(limit.trim());
  if (!match) throw new Error(`not a size: ${limit}`);
  const unit = match[2]!.toLowerCase();
  return Number(match[1]) * (unit === 'mb' ? 1024 * 1024 : unit === 'kb' ? 1024 : 1);
}

/**
 * The JSON body parser of the api: at most `limit` bytes, UTF-8 only (RFC 8259). Another
 * declared charset is a 415 and bytes that are not UTF-8 a 400: decoding them anyway would
 * turn them into other text (U+FFFD, or UTF-7's `+ACc-` into a quote) before validation.
 * A key given twice in one object is a 400 naming it (JSON.parse would keep the last).
 * A declared length over the limit is refused before a byte is read, and the connection
 * closed (body-parser would read the whole declared body first, to drop it); the bodies
 * of all requests share `budget` (see boundBodies).
 */
export function jsonBody(
  limit: string | number,
  budget: BodyBudget = { max: Number.POSITIVE_INFINITY, used: 0 },
): RequestHandler[] {
  const maxBytes = sizeInBytes(limit);
  return [
    (req, res, next) => {
      if (!req.is(JSON_TYPES)) {
        next();
        return;
      }
      const declared = Number(req.headers['content-length']);
      const encoded = (req.headers['content-encoding'] ?? 'identity') !== 'identity';
      if (!encoded && Number.isFinite(declared) && declared > maxBytes) {
        closeUnreadBody(req, res);
        next(
          new HttpProblem(
            413,
            'payload_too_large',
            `request body is larger than the limit (API_BODY_LIMIT, ${maxBytes} bytes)`,
          ),
        );
        return;
      }
      const charset = declaredCharset(req);
      if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
        closeUnreadBody(req, res);
        next(
          new HttpProblem(415, 'unsupported_media_type', `charset "${charset}": send UTF-8`, [
            { path: 'Content-Type', message: 'the charset must be utf-8' },
          ]),
        );
        return;
      }
      next();
    },
    boundBodies(maxBytes, budget),
    json({
      limit,
      strict: true,
      type: JSON_TYPES,
      verify: (_req, _res, body) => {
        if (!isUtf8(body)) {
          throw new HttpProblem(400, 'invalid_json', 'request body is not valid UTF-8', [
            { path: '(body)', message: 'not valid UTF-8' },
          ]);
        }
        const duplicate = findDuplicateKey(body);
        if (duplicate) {
          throw new HttpProblem(
            400,
            'invalid_json',
            `request body gives the key "${duplicate.path}" more than once`,
            [{ path: duplicate.path, message: 'duplicate key: given more than once' }],
          );
        }
      },
    }),
  ];
}

/** Bytes of JSON bodies being read or held, across every request of the process. */
export interface BodyBudget {
  /** Most bytes at once (API_BODY_BUDGET). */
  max: number;
  used: number;
}

/**
 * Bounds what JSON bodies may hold in memory. A body without a declared length (chunked)
 * that runs past the limit is answered 413 as soon as it does, and its connection closed;
 * body-parser alone would read it to its end before answering, however long that is.
 * Across requests, the bodies being read or held share `budget`: a declared length that
 * does not fit is a 503 before a byte is read, a chunked one as it stops fitting. So
 * however many slow connections a key holds, the api buffers at most the budget. Counts
 * the bytes as received (before any inflating, which body-parser bounds itself).
 */
function boundBodies(maxBytes: number, budget: BodyBudget): RequestHandler {
  return (req, res, next) => {
    if (!req.is(JSON_TYPES) || req.complete) {
      next();
      return;
    }
    const declared = Number(req.headers['content-length']);
    const sized =
      (req.headers['content-encoding'] ?? 'identity') === 'identity' &&
      Number.isFinite(declared) &&
      declared > 0;
    if (sized && budget.used + declared > budget.max) {
      refuseBusy(req, res);
      return;
    }
    // Held until the answer is out: the parsed body lives as long as the request.
    let held = sized ? declared : 0;
    budget.used += held;
    res.once('close', () => {
      budget.used -= held;
      held = 0;
    });
    let received = 0;
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (!sized) {
        held += chunk.length;
        budget.used += chunk.length;
      }
      const overLimit = received > maxBytes;
      const overBudget = !sized && budget.used > budget.max;
      if (!overLimit && !overBudget) return;
      req.off('data', onData);
      if (res.headersSent) return;
      if (overLimit) {
        closeUnreadBody(req, res);
        sendProblem(res, {
          status: 413,
          code: 'payload_too_large',
          detail: `request body is larger than the limit (API_BODY_LIMIT, ${maxBytes} bytes)`,
        });
      } else refuseBusy(req, res);
    };
    // Registered just before body-parser's own reader, in the same tick: no chunk is missed.
    req.on('data', onData);
    req.once('end', () => req.off('data', onData));
    next();
  };
}

function refuseBusy(req: Request, res: Response): void {
  closeUnreadBody(req, res);
  res.setHeader('Retry-After', '1');
  sendProblem(res, {
    status: 503,
    code: 'busy',
    detail: 'the api holds as many request bodies as it may (API_BODY_BUDGET); retry shortly',
  });
}

/** The charset parameter of a JSON body's Content-Type, lower-cased, if there is one. */
function declaredCharset(req: Request): string | undefined {
  if (!req.is(JSON_TYPES)) return undefined;
  const match = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(req.headers['content-type'] ?? '');
  return match?.[1]?.toLowerCase();
}
