import type { RequestHandler } from 'express';

/**
 * Headers of every api answer: JSON is never sniffed as something else, never framed, and
 * may load nothing (a problem document opened in a browser runs no script).
 */
export const API_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
};

/**
 * Headers of the dashboard (Bull Board): its own scripts and API only, never framed (no
 * clickjacking of the retry and clean buttons). Bull Board's page needs inline styles (its
 * loading screen and React's style attributes) and loads IBM Plex from Google Fonts; its
 * `__UI_CONFIG__` script is JSON data, not run, so no inline script is allowed.
 */
export const DASHBOARD_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline' https://fonts.googleapis.com",
    "font-src 'self' https://fonts.gstatic.com data:",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; '),
  'Referrer-Policy': 'same-origin',
};

/** Sets the given headers on every answer (a later middleware may set its own). */
export function securityHeaders(headers: Readonly<Record<string, string>>): RequestHandler {
  const entries = Object.entries(headers);
  return (_req, res, next) => {
    for (const [name, value] of entries) res.setHeader(name, value);
    next();
  };
}
