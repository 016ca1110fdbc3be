import { isUtf8 } from 'node:buffer';
import { json, type Request, type RequestHandler } from 'express';
import { HttpProblem } from './problem.js';

/** Media types read as JSON request bodies. */
export const JSON_TYPES = ['application/json', 'application/*+json'];

/**
 * The JSON body parser of the api: at most `limit` bytes, UTF-8 only (RFC 8259). Another
 * declared charset is a 415 and bytes that are not UTF-8 a 400: decoding them anyway would
 * turn them into other text (U+FFFD, or UTF-7's `+ACc-` into a quote) before validation.
 */
export function jsonBody(limit: string | number): RequestHandler[] {
  return [
    (req, _res, next) => {
      const charset = declaredCharset(req);
      if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
        next(
          new HttpProblem(415, 'unsupported_media_type', `charset "${charset}": send UTF-8`, [
            { path: 'Content-Type', message: 'the charset must be utf-8' },
          ]),
        );
        return;
      }
      next();
    },
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
      },
    }),
  ];
}

/** The charset parameter of a JSON body's Content-Type, lower-cased, if there is one. */
function declaredCharset(req: Request): string | undefined {
  if (!req.is(JSON_TYPES)) return undefined;
  const match = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(req.headers['content-type'] ?? '');
  return match?.[1]?.toLowerCase();
}
