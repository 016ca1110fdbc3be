import type { Config } from '../src/config.js';

/**
 * Links to a job's page on Bull Board: `<DASHBOARD_PATH>/queue/<queue>/<job id>`, the route
 * Bull Board 9's client serves a job's detail (with its Logs tab) at. Absolute when the
 * dashboard's public base URL is known (DASHBOARD_PUBLIC_URL, else API_PUBLIC_URL: the api
 * serves the board), else path-only, for a client to resolve against the server it called.
 */
export function dashboardLink(options: {
  /** DASHBOARD_PATH, e.g. `/dashboard`. */
  path: string;
  /** Scheme, host and port people reach the dashboard at, without a path. */
  publicUrl?: string | undefined;
}): (queue: string, id: string) => string {
  const origin = options.publicUrl?.replace(/\/+$/, '') ?? '';
  const base = `${origin}${options.path.replace(/\/+$/, '')}`;
  return (queue, id) => `${base}/queue/${encodeURIComponent(queue)}/${encodeURIComponent(id)}`;
}

/** The link to a job's page on the dashboard of a configuration, as job status answers it. */
export function dashboardLinkOf(
  config: Pick<Config, 'DASHBOARD_PATH' | 'DASHBOARD_PUBLIC_URL' | 'API_PUBLIC_URL'>,
): (queue: string, id: string) => string {
  return dashboardLink({
    path: config.DASHBOARD_PATH,
    publicUrl: config.DASHBOARD_PUBLIC_URL ?? config.API_PUBLIC_URL,
  });
}
