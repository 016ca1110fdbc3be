import type { Request } from 'express';

/**
 * Whether a state-changing request to the dashboard came from the dashboard itself. A
 * browser posts with the board's cached Basic credentials: a post from another site would
 * carry them too, so an Origin that is not this host is refused (no Origin: not a browser
 * form, or a same-origin one from an older browser).
 */
export function sameOrigin(req: Request): boolean {
  const origin = req.headers.origin;
  if (origin === undefined || origin === 'null') return origin === undefined;
  return URL.canParse(origin) && new URL(origin).host === req.headers.host;
}
