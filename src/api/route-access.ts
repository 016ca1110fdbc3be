import type { RequestHandler } from 'express';
import type { Scope } from '../config.js';
import { hasScope } from '../http/auth.js';
import type { OpenApiDocument } from './openapi.js';
import { HttpProblem } from '../http/problem.js';
import { closeUnreadBody } from '../http/unread-body.js';

/** What one operation of the OpenAPI document needs: a scope, or the scope of a job type. */
type Access = { scope: Scope } | { jobScopes: Readonly<Record<string, Scope>> };

/** One guarded operation, as the gate matches a request against it. */
export interface GuardedRoute {
  method: string;
  /** The OpenAPI path template, `/v1/jobs/{job}`. */
  template: string;
  pattern: RegExp;
  /** Literal segments: a literal beats a parameter when two templates match. */
  literals: number;
  access: Access;
}

/** What the gate decided for a request. */
export type RouteDecision =
  | { kind: 'scope'; scope: Scope; route: GuardedRoute; job?: string }
  | { kind: 'unknown-job'; name: string; known: string[] }
  | { kind: 'no-route' };

const METHODS = ['get', 'post', 'put', 'delete', 'patch'];

/**
 * The guarded operations of the api's OpenAPI document (the route table's metadata): each
 * with the scope in its `x-stowage-scope`. Matched as express matches routes: case-insensitive,
 * one segment per parameter, an optional trailing slash.
 */
export function guardedRoutes(document: OpenApiDocument): GuardedRoute[] {
  const routes: GuardedRoute[] = [];
  for (const [template, operations] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const operation = operations[method];
      const scope = operation?.['x-stowage-scope'];
      if (scope === undefined) continue;
      const segments = template.split('/').slice(1);
      const source = segments
        .map((s) => (/^\{[^}]+\}$/.test(s) ? '/([^/]+)' : `/${escapeRegExp(s)}`))
        .join('');
      routes.push({
        method: method.toUpperCase(),
        template,
        pattern: new RegExp(`^${source}/?$`, 'i'),
        literals: segments.filter((s) => !s.startsWith('{')).length,
        access:
          typeof scope === 'string'
            ? { scope: scope as Scope }
            : { jobScopes: scope as Record<string, Scope> },
      });
    }
  }
  return routes.sort((a, b) => b.literals - a.literals);
}

/** The scope a request needs, decided from its method and path alone (before any body byte). */
export function decideRoute(
  routes: readonly GuardedRoute[],
  method: string,
  path: string,
): RouteDecision {
  const wanted = method === 'HEAD' ? 'GET' : method;
  for (const route of routes) {
    if (route.method !== wanted) continue;
    const match = route.pattern.exec(path);
    if (!match) continue;
    if ('scope' in route.access) return { kind: 'scope', scope: route.access.scope, route };
    const name = decodeSegment(match[1] ?? '');
    const scope =
      name !== undefined && Object.hasOwn(route.access.jobScopes, name)
        ? route.access.jobScopes[name]
        : undefined;
    if (name === undefined || scope === undefined)
      return { kind: 'unknown-job', name: name ?? '', known: Object.keys(route.access.jobScopes) };
    return { kind: 'scope', scope, route, job: name };
  }
  return { kind: 'no-route' };
}

/**
 * Checks, after `authenticate` and before any body parser, that the caller holds the scope
 * the route needs, and that the route exists: a refusal is answered before a body byte is
 * read, and its connection closed rather than the body drained. The routes still check
 * their own scope; this gate only moves the refusal ahead of the body.
 */
export function authorizeRoute(document: OpenApiDocument): RequestHandler {
  const routes = guardedRoutes(document);
  return (req, res, next) => {
    const decision = decideRoute(routes, req.method, req.path);
    let problem: HttpProblem | undefined;
    if (decision.kind === 'no-route') {
      problem = new HttpProblem(404, 'not_found', `no route ${req.method} ${req.path}`);
    } else if (decision.kind === 'unknown-job') {
      problem = new HttpProblem(404, 'unknown_job_type', `no job type "${decision.name}"`, [
        {
          path: 'type',
          message: `unknown job type (known: ${decision.known.join(', ') || 'none'})`,
        },
      ]);
    } else if (!hasScope(res.locals.caller, decision.scope)) {
      problem = new HttpProblem(
        403,
        'forbidden',
        decision.job === undefined
          ? `this route needs the "${decision.scope}" scope`
          : `enqueueing ${decision.job} needs the "${decision.scope}" scope`,
      );
    }
    if (problem) {
      closeUnreadBody(req, res);
      next(problem);
      return;
    }
    next();
  };
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
