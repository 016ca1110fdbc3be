import { Router, type RequestHandler } from 'express';
import type { z } from 'zod';
import { ValidationError, type FieldIssue } from '../errors/index.js';
import { requireScope } from '../http/auth.js';
import type { Answer, Route, RouteContract, TableRow } from './route.js';
import { isServed } from './route.js';

/** `/v1/iocs/{type}/{value}` → `/v1/iocs/:type/:value`. */
export function expressPath(template: string): string {
  return template.replace(/\{(\w+)\}/g, ':$1');
}

/** Parses path, query and body together, so one 400 names every failing field. */
function readInput(
  route: RouteContract,
  req: { params: unknown; query: unknown; body: unknown },
): { params: unknown; query: unknown; body: unknown } {
  const issues: FieldIssue[] = [];
  const parse = (schema: z.ZodType | undefined, raw: unknown, fallback: unknown) => {
    if (!schema) return fallback;
    const parsed = schema.safeParse(raw);
    if (parsed.success) return parsed.data;
    issues.push(...ValidationError.fromZod(parsed.error).issues);
    return undefined;
  };
  const input = {
    params: parse(route.params, req.params, {}),
    query: parse(route.query, req.query, {}),
    body: parse(route.body, req.body ?? {}, undefined),
  };
  if (issues.length > 0) throw new ValidationError(issues);
  return input;
}

/** Writes a handler's answer: JSON, or a body of its own media type sent as is. */
function send(res: Parameters<RequestHandler>[1], answer: Answer): void {
  if (answer.headers) res.set(answer.headers);
  res.status(answer.status);
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
 * An express router serving the table's served rows, in order: the scope check (auth.ts's
 * requireScope; the caller was set by `authenticate`), the schemas (a ValidationError naming
 * each failing field), then the handler. Errors go to the app's problem middleware. Rows only
 * documented here (`servedBy`) are skipped: their own routers serve them.
 */
export function routerFor<D>(rows: readonly TableRow<D>[], deps: D): Router {
  const router = Router();
  for (const route of rows.filter((row): row is Route<D> => isServed(row))) {
    if (route.access === 'job-type') {
      throw new Error(`${route.operationId}: job-type access is served by the jobs router only`);
    }
    const guard: RequestHandler[] = route.access === 'public' ? [] : [requireScope(route.access)];
    router[route.method](expressPath(route.path), ...guard, async (req, res) => {
      const input = readInput(route, req);
      send(res, await route.handler(input, { caller: res.locals.caller, deps }));
    });
  }
  return router;
}
