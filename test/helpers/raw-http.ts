// Raw HTTP for tests that must send what fetch would fix or refuse: paths that are not
// normalized (`/a/../b`, `%2e%2e`), bodies that are not valid UTF-8, and clients that stall.
import { request } from 'node:http';
import { connect } from 'node:net';

/** One answer, with its body read in full. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

/** A request exactly as given: the path is sent verbatim, the body as bytes. */
export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** Sends one request on its own connection and reads the whole answer. */
export function send(base: string, req: RawRequest, timeoutMs = 15_000): Promise<RawAnswer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const body = req.body === undefined ? undefined : Buffer.from(req.body);
    const r = request(
      {
        host: url.hostname,
        port: url.port,
        method: req.method,
        path: req.path,
        agent: false,
        headers: {
          ...(body === undefined ? {} : { 'content-length': String(body.length) }),
          ...req.headers,
        },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const buf = Buffer.concat(chunks);
          let json: unknown;
          try {
            json = JSON.parse(buf.toString('utf8'));
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: buf, json });
        });
      },
    );
    r.on('timeout', () => r.destroy(new Error(`no answer to ${req.method} ${req.path}`)));
    r.on('error', reject);
    r.end(body);
  });
}

/** What a slow client saw: the status line (if any) and when the server answered or closed. */
export interface SlowClientOutcome {
  status: number | undefined;
  /** Milliseconds from the headers until the server answered or closed the connection. */
  ms: number;
  /** Whether the server closed the connection (rather than the client giving up). */
  closedByServer: boolean;
}

/**
 * Sends a request's head on a plain socket, then `trickle` bytes of body every `everyMs`
 * (or nothing at all when `trickle` is 0), never finishing the declared body. Resolves once
 * the server answers or closes, or after `giveUpMs` (then `closedByServer` is false).
 */
export function slowClient(
  base: string,
  head: string,
  options: { trickle: number; everyMs: number; giveUpMs: number },
): Promise<SlowClientOutcome> {
  const url = new URL(base);
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    const started = Date.now();
    let answer = '';
    let timer: NodeJS.Timeout | undefined;
    const finish = (closedByServer: boolean) => {
      clearInterval(timer);
      clearTimeout(giveUp);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1];
      resolve({
        status: status === undefined ? undefined : Number(status),
        ms: Date.now() - started,
        closedByServer,
      });
      socket.destroy();
    };
    const giveUp = setTimeout(() => finish(false), options.giveUpMs);
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('data', (d: Buffer) => {
      answer += d.toString('latin1');
      // The status line is the answer; the connection may stay open after it.
      if (/^HTTP\/1\.[01] \d{3}/.test(answer)) finish(true);
    });
    socket.on('connect', () => {
      socket.write(head);
      if (options.trickle > 0) {
        timer = setInterval(() => {
          if (!socket.destroyed) socket.write(Buffer.alloc(options.trickle, 0x20));
        }, options.everyMs);
      }
    });
  });
}
