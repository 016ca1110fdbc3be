import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { ApiKey, Scope } from '../config.js';
import { HttpProblem } from './problem.js';
import { closeUnreadBody } from './unread-body.js';

/** The key a request authenticated with, set by `authenticate`. */
export interface Caller {
  name: string;
  scopes: ReadonlySet<Scope>;
  /** The key's tenant (see ApiKey.tenant). */
  tenant: string;
}

declare module 'express-serve-static-core' {
  interface Locals {
    caller?: Caller;
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Finds the key a secret belongs to. Every key is compared, each in constant time over
 * fixed-length digests, so timing tells neither which key nor how much of it matched.
 */
export function matchKey(keys: readonly ApiKey[], presented: string): ApiKey | undefined {
  const presentedDigest = digest(presented);
  let found: ApiKey | undefined;
  for (const key of keys) {
    if (timingSafeEqual(digest(key.secret), presentedDigest)) found = key;
  }
  return found;
}

/** The secret of an Authorization header: Bearer, or Basic with the key as password (browsers). */
export function secretFromHeader(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const [scheme, value] = header.split(/\s+/, 2);
  if (!scheme || !value) return undefined;
  if (scheme.toLowerCase() === 'bearer') return value;
  if (scheme.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 ? decoded.slice(colon + 1) : undefined;
  }
  return undefined;
}

/** Whether a caller holds a scope; admin holds them all. */
export function hasScope(caller: Caller | undefined, scope: Scope): boolean {
  return !!caller && (caller.scopes.has(scope) || caller.scopes.has('admin'));
}

/**
 * Identifies the caller from its API key; 401 when the key is missing or unknown, answered
 * before any body byte is read and with the connection then closed (see closeUnreadBody).
 */
export function authenticate(
  keys: readonly ApiKey[],
  options: { basicRealm?: string } = {},
): RequestHandler {
  return (req, res, next) => {
    const secret = secretFromHeader(req.headers.authorization);
    const key = secret === undefined ? undefined : matchKey(keys, secret);
    if (!key) {
      closeUnreadBody(req, res);
      if (options.basicRealm)
        res.setHeader('WWW-Authenticate', `Basic realm="${options.basicRealm}"`);
      else res.setHeader('WWW-Authenticate', 'Bearer');
      next(
        new HttpProblem(
          401,
          'unauthorized',
          secret === undefined
            ? 'missing API key (Authorization: Bearer <key>)'
            : 'unknown API key',
        ),
      );
      return;
    }
    res.locals.caller = { name: key.name, scopes: key.scopes, tenant: key.tenant };
    next();
  };
}

/** 403 unless the caller holds the scope (or admin). */
export function requireScope(scope: Scope): RequestHandler {
  return (req, res, next) => {
    if (hasScope(res.locals.caller, scope)) {
      next();
      return;
    }
    closeUnreadBody(req, res);
    next(new HttpProblem(403, 'forbidden', `this route needs the "${scope}" scope`));
  };
}
