// An HTTP pass-through in front of the real S3 (Ceph RGW) that answers `503 SlowDown`, as
// AWS S3 does when asked to reduce the request rate, to the first N object writes
// (PutObject, UploadPart: a PUT to /bucket/key); everything else, and every write after
// those, goes through untouched (headers as sent, so SigV4 signatures still match).
import { createServer, request, type Server } from 'node:http';

const SLOW_DOWN = `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><Resource>/</Resource><RequestId>slowdown-proxy</RequestId></Error>`;

export class S3SlowDownProxy {
  private server: Server | undefined;
  /** Object writes answered SlowDown, and object writes passed on. */
  refused = 0;
  passed = 0;

  constructor(
    private readonly target: URL,
    /** How many object writes to refuse before letting them all through. */
    private readonly refuse: number,
  ) {}

  /** Listens on a free local port; returns the endpoint to give the S3 client. */
  async open(): Promise<string> {
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://proxy').pathname;
      const objectWrite = req.method === 'PUT' && path.split('/').filter(Boolean).length >= 2;
      if (objectWrite && this.refused < this.refuse) {
        this.refused++;
        // Read the body to the end first, as S3 does, so the client sees the answer.
        req.resume();
        req.once('end', () => {
          res.writeHead(503, { 'content-type': 'application/xml', 'retry-after': '1' });
          res.end(SLOW_DOWN);
        });
        return;
      }
      if (objectWrite) this.passed++;
      const upstream = request(
        {
          host: this.target.hostname,
          port: this.target.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
