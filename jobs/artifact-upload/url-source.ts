import { lookup as dnsLookup } from 'node:dns/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { PermanentError, TransientError } from '../../src/errors/index.js';
import { checkUrlSource, type UrlAllowlist } from '../../src/domain/url-allowlist.js';

/** Resolves a host name to every address it has (dns.lookup with all: true by default). */
export type ResolveHost = (host: string) => Promise<string[]>;

/** How a URL source is fetched. */
export interface UrlSourceOptions {
  allowlist: UrlAllowlist;
  resolve?: ResolveHost | undefined;
  /** No byte from the server for this long (connect, headers or body) fails the fetch. */
  idleTimeoutMs: number;
  maxRedirects?: number;
  signal?: AbortSignal | undefined;
}

/** An answered GET: the body to stream, and the URL that gave it (after redirects). */
export interface OpenedUrl {
  body: IncomingMessage;
  /** Origin and path only: a query string may hold a token. */
  where: string;
  contentLength: number | undefined;
}

/** dns.lookup with all addresses, in the order the resolver gives them. */
export const resolveWithDns: ResolveHost = async (host) =>
  (await dnsLookup(host, { all: true })).map((a) => a.address);

/**
 * GETs an allowed URL. Every hop (the URL, then each redirect, at most `maxRedirects`) is
 * checked against the allow-list with the addresses its host resolves to, and the
 * connection goes to exactly those checked addresses: a DNS answer that changes between
 * the check and the connect (rebinding) cannot reach an address the check refused. That is
 * why this uses node:http with a pinned lookup instead of fetch, which follows redirects
 * and resolves again on its own.
 */
export async function openUrlSource(url: string, options: UrlSourceOptions): Promise<OpenedUrl> {
  const resolve = options.resolve ?? resolveWithDns;
  const maxRedirects = options.maxRedirects ?? 5;
  let current = url;
  for (let hop = 0; ; hop++) {
    const u = new URL(current);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const where = `${u.origin}${u.pathname}`;
    const addresses = isIP(host) ? [host] : await resolveOrFail(resolve, host, where);
    const problem = checkUrlSource(current, options.allowlist, addresses);
    if (problem !== undefined) {
      throw new PermanentError('url_not_allowed', `URL source ${where} refused: ${problem}`, {
        host,
        url: where,
      });
    }
    const res = await get(u, addresses, options);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (status >= 300 && status < 400 && location) {
      res.resume();
      if (hop >= maxRedirects) {
        throw new PermanentError(
          'url_fetch_failed',
          `URL source ${where} redirected more than ${maxRedirects} times`,
          { url: where },
        );
      }
      current = new URL(location, current).href;
      continue;
    }
    if (status !== 200) {
      res.resume();
      // The server's own answer: 4xx will not change by asking again, except these two.
      const retryable = status >= 500 || status === 408 || status === 429;
      const message = `URL source ${where} answered HTTP ${status}`;
      throw retryable
        ? new TransientError('url_fetch_failed', message, { url: where, httpStatus: status })
        : new PermanentError('url_fetch_failed', message, { url: where, httpStatus: status });
    }
    const length = Number(res.headers['content-length']);
    return {
      body: res,
      where,
      contentLength:
        res.headers['content-length'] !== undefined && Number.isFinite(length) ? length : undefined,
    };
  }
}

async function resolveOrFail(resolve: ResolveHost, host: string, where: string): Promise<string[]> {
  try {
    return await resolve(host);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    // NXDOMAIN is an answer; anything else (EAI_AGAIN, a resolver timeout) may pass later.
    if (code === 'ENOTFOUND') {
      throw new PermanentError(
        'url_fetch_failed',
        `URL source ${where}: host ${host} does not resolve`,
        {
          host,
          url: where,
        },
      );
    }
    throw new TransientError(
      'url_fetch_failed',
      `URL source ${where}: resolving ${host} failed: ${String(err)}`,
      { host, url: where },
      { cause: err },
    );
  }
}

function get(u: URL, addresses: string[], options: UrlSourceOptions): Promise<IncomingMessage> {
  const where = `${u.origin}${u.pathname}`;
  return new Promise((resolve, reject) => {
    const req = (u.protocol === 'https:' ? https : http).get(u, {
      lookup: pinnedLookup(addresses),
      headers: { accept: '*/*', 'user-agent': 'stowage-artifact-upload' },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    // A socket timeout covers connect, headers and every pause in the body alike.
    req.setTimeout(options.idleTimeoutMs, () => {
      req.destroy(
        new TransientError(
          'url_fetch_failed',
          `URL source ${where} sent nothing for ${options.idleTimeoutMs} ms`,
          { url: where },
        ),
      );
    });
    req.once('response', resolve);
    req.once('error', (err) => {
      reject(
        err instanceof TransientError || err instanceof PermanentError
          ? err
          : new TransientError(
              'url_fetch_failed',
              `URL source ${where}: ${err.message}`,
              { url: where },
              {
                cause: err,
              },
            ),
      );
    });
  });
}

/** A lookup that answers only with addresses already checked against the allow-list. */
function pinnedLookup(addresses: string[]): LookupFunction {
  const family = (a: string) => (isIP(a) === 6 ? 6 : 4);
  return (_hostname, options, callback) => {
    const wanted =
      options.family === 4 || options.family === 6
        ? addresses.filter((a) => family(a) === options.family)
        : addresses;
    const list = wanted.length > 0 ? wanted : addresses;
    if (options.all) {
      callback(
        null,
        list.map((address) => ({ address, family: family(address) })),
      );
    } else {
      const first = list[0] ?? '';
      callback(null, first, family(first));
    }
  };
}
