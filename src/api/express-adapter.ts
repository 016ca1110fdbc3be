import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Router, type Request, type RequestHandler } from 'express';
import type { z } from 'zod';
import { ValidationError, type FieldIssue } from '../errors/index.js';
import { requireScope, type Caller } from '../http/auth.js';
import { jsonBody } from './json-body.js';
import type { Answer, Route, RouteContract } from './route.js';
import { lingerAfterEarlyAnswer } from './upload-body.js';

/** `/v1/iocs/{type}/{value}` → `/v1/iocs/:type/:value`. */
export function expressPath(template: string): string {
  return template.replace(/\{(\w+)\}/g, ':$1');
}

/** The headers a row's schema names, by their documented names (absent ones left out). */
function readHeaders(schema: z.ZodObject, req: Request): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of Object.keys(schema.shape)) {
    const value = req.header(name);
    if (value !== undefined) headers[name] = value;
  }
  return headers;
}

/** Parses path, query, headers and body together, so one 400 names every failing field. */
function readInput(
  route: RouteContract,
  req: Request,
): { params: unknown; query: unknown; headers: unknown; body: unknown } {
  const issues: FieldIssue[] = [];
  const parse = (schema: z.ZodType | undefined, raw: () => unknown, fallback: unknown) => {
    if (!schema) return fallback;
    const parsed = schema.safeParse(raw());
    if (parsed.success) return parsed.data;
    issues.push(...ValidationError.fromZod(parsed.error).issues);
    return undefined;
  };
  const headerSchema = route.headers;
  const input = {
    params: parse(route.params, () => req.params, req.params),
    query: parse(route.query, () => req.query, req.query),
    headers: headerSchema ? parse(headerSchema, () => readHeaders(headerSchema, req), {}) : {},
    body: parse(route.body, () => (req.body as unknown) ?? {}, req.body),
  };
  if (issues.length > 0) throw new ValidationError(issues);
  return input;
}

/**
 * Writes a handler's answer: JSON, a body of its own media type sent as is, or a stream
 * piped as it is read (sendStream).
 */
async function send(
  req: Request,
  res: Parameters<RequestHandler>[1],
  answer: Answer,
): Promise<void> {
  for (const [name, value] of Object.entries(answer.headers ?? {})) {
    // As express writes a Location: URL-encoded.
    if (name.toLowerCase() === 'location') res.location(value);
    else res.set(name, value);
  }
  res.status(answer.status);
  if (answer.body instanceof Readable) {
    await sendStream(req, res, answer.body, answer.type);
    return;
  }
  if (answer.type === undefined) res.json(answer.body);
  else
    res
      .type(answer.type)
      .send(
        typeof answer.body === 'string' || Buffer.isBuffer(answer.body)
          ? answer.body
          : JSON.stringify(answer.body),
      );
}

/**
 * Pipes a stream body (an S3 object, a STIX bundle) to the response with backpressure. The
 * stream is destroyed when the client goes away mid-way (pipeline does it: an S3 body's
 * socket is closed, not leaked) and unread for a HEAD, which has no body. A failure before
 * the first byte is still a problem document; after it, the response is cut short (the
 * client sees a truncated body, never a short one that looks whole) and both ends close.
 */
async function sendStream(
  req: Request,
  res: Parameters<RequestHandler>[1],
  body: Readable,
  type: string | undefined,
): Promise<void> {
  res.type(type ?? 'application/octet-stream');
  if (req.method === 'HEAD') {
    body.destroy();
    res.end();
    return;
  }
  try {
    await pipeline(body, res);
  } catch (err) {
    // The client that went away needs no answer.
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    throw err;
  }
}

/** What runs before a row's handler: the linger of a streamed body, the scope, its own JSON parser. */
function before(route: RouteContract): RequestHandler[] {
  return [
    ...(route.stream ? [lingerAfterEarlyAnswer()] : []),
    // `job-type`: the gate (route-access.ts) checked the job type's scope; the handler's use
    // case resolves the definition and checks it again.
    ...(route.access === 'public' || route.access === 'job-type'
      ? []
      : [requireScope(route.access)]),
    ...(route.bodyLimit === undefined ? [] : jsonBody(route.bodyLimit)),
  ];
}

/**
 * An express router serving the rows, in order: the scope check (auth.ts's requireScope; the
 * caller was set by `authenticate`), the schemas (a ValidationError naming each failing
 * field), then the handler. Errors go to the app's problem middleware.
 */
export function routerFor<D>(
  rows: readonly Route<D>[],
  deps: D,
  /** The dependencies of one authenticated request (a producer recording its caller). */
  depsFor?: (caller: Caller, deps: D) => D,
): Router {
  const router = Router();
  for (const route of rows) {
    router[route.method](expressPath(route.path), ...before(route), async (req, res) => {
      const input = readInput(route, req);
      const caller = res.locals.caller;
      const own = caller && depsFor ? depsFor(caller, deps) : deps;
      await send(req, res, await route.handler(input, { caller, deps: own, request: req }));
    });
  }
  return router;
}
