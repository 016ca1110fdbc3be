import type { RequestHandler } from 'express';
import type { ApiKey } from '../config.js';
import { cidrMatcher, type NetworkCidr } from '../domain/network-cidr.js';
import { authenticate } from '../http/auth.js';
import type { OpenApiDocument } from './openapi.js';
import { decideRoute, guardedRoutes } from './route-access.js';

/** The tenant of callers let in by network instead of a key. */
export const OPEN_NETWORK_TENANT = 'open-network';

/**
 * The operations seed 001's collection client calls, and the only ones a request without
 * an Authorization header may reach from a network in WATERMARK_OPEN_CIDRS.
 */
export const OPEN_WATERMARK_OPERATIONS: ReadonlySet<string> = new Set([
  'GET /api/v1/watermarks/{source_id}',
  'PUT /api/v1/watermarks/{source_id}',
  'GET /status',
]);

/** The caller name recorded (request log, audit) for a request served without a key. */
export function openCallerName(address: string): string {
  return `open:${address}`;
}

/**
 * `authenticate`, except that a request with no Authorization header, from a socket
 * address inside one of `openCidrs`, to one of OPEN_WATERMARK_OPERATIONS, is served as the
 * caller `open:<address>` holding just the scope that operation needs. The operation is
 * decided as the route gate decides it (route-access.ts), so a path that only resembles an
 * open one (`…/rewind`, another method) still needs a key. The address is the socket's:
 * the api does not trust X-Forwarded-For (`trust proxy` is off). With no networks listed
 * this is `authenticate` itself.
 */
export function authenticateOrOpen(
  keys: readonly ApiKey[],
  options: { openCidrs: readonly NetworkCidr[]; document: OpenApiDocument },
): RequestHandler {
  const keyed = authenticate(keys);
  if (options.openCidrs.length === 0) return keyed;
  const inOpenNetwork = cidrMatcher(options.openCidrs);
  const routes = guardedRoutes(options.document);
  return (req, res, next) => {
    const address = req.socket.remoteAddress;
    if (req.headers.authorization === undefined && address !== undefined) {
      const decision = decideRoute(routes, req.method, req.path);
      if (
        decision.kind === 'scope' &&
        OPEN_WATERMARK_OPERATIONS.has(`${decision.route.method} ${decision.route.template}`) &&
        inOpenNetwork(address)
      ) {
        res.locals.caller = {
          name: openCallerName(address),
          scopes: new Set([decision.scope]),
          // One tenant for every keyless collector: their quotas and usage are counted together.
          tenant: OPEN_NETWORK_TENANT,
        };
        next();
        return;
      }
    }
    keyed(req, res, next);
  };
}
