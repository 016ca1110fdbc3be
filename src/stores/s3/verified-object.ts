import { createHash } from 'node:crypto';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { PermanentError } from '../../errors/index.js';
import { classifyS3Error } from './classify-s3-error.js';

/** One archive object version and the SHA-256 the archive vouches for. */
export interface VouchedObject {
  bucket: string;
  key: string;
  versionId: string | null;
  sha256: string;
}

/**
 * The bytes of one object version, refused (archive_verification_failed) unless their
 * SHA-256 is the one the ledger or manifest vouches for. Archive parts are bounded by
 * ARCHIVE_PART_ROWS, so one is read whole.
 */
export async function readVerifiedObject(s3: S3Client, object: VouchedObject): Promise<Buffer> {
  const { bucket, key, versionId, sha256 } = object;
  let body: Buffer;
  try {
    const out = await s3.send(
      new GetObjectCommand({
        Bucket: bucket,
        Key: key,
        ...(versionId ? { VersionId: versionId } : {}),
      }),
    );
    body = Buffer.from((await out.Body?.transformToByteArray()) ?? new Uint8Array());
  } catch (err) {
    throw classifyS3Error(err, { bucket, key, operation: 'GetObject' });
  }
  const actual = createHash('sha256').update(body).digest('hex');
  if (actual !== sha256) {
    throw new PermanentError(
      'archive_verification_failed',
      `archive object ${bucket}/${key} has SHA-256 ${actual}, the archive vouches for ${sha256}`,
      { bucket, key, versionId },
    );
  }
  return body;
}
