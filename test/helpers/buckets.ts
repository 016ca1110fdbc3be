// Throwaway S3 buckets for tests: random names, and a teardown that removes every version,
// delete marker and incomplete upload (Object Lock buckets are versioned) before the bucket.
import { randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

/** A bucket name no other test uses. */
export function randomBucketName(label: string): string {
  return `t-${randomBytes(5).toString('hex')}-${label}`;
}

/** Creates a bucket, with Object Lock (and so versioning) when asked. */
export async function createBucket(
  s3: S3Client,
  name: string,
  options: { objectLock?: boolean } = {},
): Promise<string> {
  await s3.send(
    new CreateBucketCommand({
      Bucket: name,
      ...(options.objectLock ? { ObjectLockEnabledForBucket: true } : {}),
    }),
  );
  return name;
}

/**
 * Deletes every object version, delete marker and multipart upload, then the bucket.
 * GOVERNANCE retention is bypassed; legal holds must be released first (the caller's job).
 */
export async function removeBucket(s3: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    for (const u of uploads.Uploads ?? []) {
      await s3.send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }),
      );
    }
    if (!uploads.IsTruncated) break;
  }
  for (;;) {
    const page = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket }));
    const objects = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((v) => ({
      Key: v.Key ?? '',
      ...(v.VersionId ? { VersionId: v.VersionId } : {}),
    }));
    if (objects.length > 0) {
      await s3.send(
        new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: { Objects: objects, Quiet: true },
          BypassGovernanceRetention: true,
        }),
      );
    }
    if (!page.IsTruncated) break;
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
}
