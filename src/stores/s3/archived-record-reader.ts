import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { recordDigest, type StoredRecord } from '../../domain/storage-record.js';
import { PermanentError } from '../../errors/index.js';
import type { RecordIndex, RecordLocation } from '../postgres/record-index.js';
import { classifyS3Error } from './classify-s3-error.js';

/**
 * Reads records that left the hot store back from the WORM archive: one indexed PostgreSQL
 * query names the object version and line, then that one object is streamed and inflated up
 * to the line (never held whole, never listed), and the line is believed only when its
 * SHA-256 is the digest the index recorded.
 */
export class ArchivedRecordReader {
  constructor(
    private readonly index: Pick<RecordIndex, 'locate'>,
    private readonly s3: S3Client,
  ) {}

  /** The archived copy of a record, or undefined when the index has none. */
  async find(id: string): Promise<StoredRecord | undefined> {
    const location = await this.index.locate(id);
    if (location === undefined) return undefined;
    const line = await this.readLine(location);
    if (recordDigest(line) !== location.digest) {
      throw new PermanentError(
        'archive_verification_failed',
        `line ${location.line} of ${location.bucket}/${location.object_key} does not have the digest the record index holds for "${id}"`,
        { ...location },
      );
    }
    const record = JSON.parse(line) as StoredRecord;
    if (record.id !== id) {
      throw new PermanentError(
        'archive_verification_failed',
        `line ${location.line} of ${location.bucket}/${location.object_key} holds "${record.id}", not "${id}"`,
        { ...location },
      );
    }
    return record;
  }

  private async readLine(location: RecordLocation): Promise<string> {
    const { bucket, object_key: key, version_id: versionId } = location;
    let body: Readable;
    try {
      const out = await this.s3.send(
        new GetObjectCommand({
          Bucket: bucket,
          Key: key,
          ...(versionId ? { VersionId: versionId } : {}),
        }),
      );
      if (!(out.Body instanceof Readable)) throw new Error('GetObject gave no stream');
      body = out.Body;
    } catch (err) {
      throw classifyS3Error(err, { bucket, key, operation: 'GetObject' });
    }
    const text = body.pipe(createGunzip());
    // Inflated only up to the line's end; the rest of the object is never read.
    let line = 0;
    let pending: Buffer[] = [];
    try {
      for await (const chunk of text as AsyncIterable<Buffer>) {
        let start = 0;
        for (;;) {
          const end = chunk.indexOf(0x0a, start);
          if (end < 0) break;
          if (line === location.line) {
            return Buffer.concat([...pending, chunk.subarray(start, end)]).toString('utf8');
          }
          pending = [];
          line += 1;
          start = end + 1;
        }
        if (line === location.line) pending.push(chunk.subarray(start));
      }
    } catch (err) {
      throw classifyS3Error(err, { bucket, key, operation: 'GetObject' });
    } finally {
      text.destroy();
      body.destroy();
    }
    throw new PermanentError(
      'archive_verification_failed',
      `${bucket}/${key} has no line ${location.line}, which the record index names`,
      { ...location },
    );
  }
}
