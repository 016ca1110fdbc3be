import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { createGzip, type Gzip } from 'node:zlib';
import { archiveLine } from '../../src/domain/archive.js';
import type { StoredIoc } from '../../src/domain/ioc.js';

/** A finished part: the gzip bytes to upload and what the manifest says about them. */
export interface BuiltPart {
  body: Buffer;
  rows: number;
  /** SHA-256 (hex) of the uncompressed NDJSON. */
  ndjsonSha256: string;
}

/**
 * One gzip NDJSON part, compressed while rows are added: only the compressed bytes are
 * kept (a part's rows are never all in memory as text), with the digest of the
 * uncompressed lines computed along the way.
 */
export class GzipNdjsonPart<Row = StoredIoc> {
  private readonly gzip: Gzip = createGzip({ level: 6 });
  private readonly chunks: Buffer[] = [];
  private readonly ndjson = createHash('sha256');
  private failure: Error | undefined;
  private count = 0;

  /** `line` turns a row into its NDJSON line (an IOC's archiveLine by default). */
  constructor(private readonly line: (row: Row) => string = archiveLine as (row: Row) => string) {
    this.gzip.on('data', (chunk: Buffer) => this.chunks.push(chunk));
    // Kept, and rethrown by the next write or finish, instead of crashing the process.
    this.gzip.on('error', (err) => {
      this.failure = err;
    });
  }

  /** Rows added so far. */
  get rows(): number {
    return this.count;
  }

  /** Appends rows as NDJSON lines; waits while zlib catches up. */
  async write(rows: readonly Row[]): Promise<void> {
    if (this.failure) throw this.failure;
    if (rows.length === 0) return;
    const text = rows.map((row) => this.line(row)).join('');
    this.ndjson.update(text);
    this.count += rows.length;
    if (!this.gzip.write(text)) await once(this.gzip, 'drain');
  }

  /** Ends the gzip stream and returns the part. */
  async finish(): Promise<BuiltPart> {
    if (this.failure) throw this.failure;
    this.gzip.end();
    await finished(this.gzip);
    return {
      body: Buffer.concat(this.chunks),
      rows: this.count,
      ndjsonSha256: this.ndjson.digest('hex'),
    };
  }
}
