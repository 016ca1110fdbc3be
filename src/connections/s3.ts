import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../config.js';

type S3Config = Pick<
  Config,
  'S3_ENDPOINT' | 'S3_REGION' | 'S3_ACCESS_KEY_ID' | 'S3_SECRET_ACCESS_KEY' | 'S3_FORCE_PATH_STYLE'
>;

/**
 * An S3 client. Checksums only WHEN_REQUIRED: Ceph RGW and older MinIO refuse the SDK's
 * default aws-chunked bodies; Stowage computes and verifies its own SHA-256 instead.
 */
export function createS3(config: S3Config): S3Client {
  return new S3Client({
    region: config.S3_REGION,
    forcePathStyle: config.S3_FORCE_PATH_STYLE,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    // Without timeouts a hung S3 hangs the job forever; a part of a few MiB takes seconds.
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 120_000 },
    ...(config.S3_ENDPOINT ? { endpoint: config.S3_ENDPOINT } : {}),
    ...(config.S3_ACCESS_KEY_ID && config.S3_SECRET_ACCESS_KEY
      ? {
          credentials: {
            accessKeyId: config.S3_ACCESS_KEY_ID,
            secretAccessKey: config.S3_SECRET_ACCESS_KEY,
          },
        }
      : {}),
  });
}

/** Answers whether S3 accepts an authenticated request. */
export async function pingS3(s3: S3Client): Promise<void> {
  await s3.send(new ListBucketsCommand({}));
}
