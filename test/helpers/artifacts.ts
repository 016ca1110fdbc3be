// Fixtures for artifact tests: per-test buckets and spool, random files, bucket teardown.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import {
  GetObjectCommand,
  ListMultipartUploadsCommand,
  type MultipartUpload,
  type S3Client,
} from '@aws-sdk/client-s3';
import { artifactUploadJob, spoolTagOf } from '../../jobs/artifact-upload/definition.js';
import type { AnyJobDefinition, InputOf } from '../../jobs/job-definition.js';
import type { Producer } from '../../queues/producer.js';
import { removeBucket } from './buckets.js';

/** Config overrides giving a test its own three buckets and its own spool directory. */
export async function artifactOverrides(): Promise<Record<string, string>> {
  const id = randomBytes(4).toString('hex');
  return {
    ARTIFACT_BUCKET_SAMPLES: `t-${id}-samples`,
    ARTIFACT_BUCKET_TA_BUNDLES: `t-${id}-tas`,
    ARTIFACT_BUCKET_DEBUG_BUNDLES: `t-${id}-debug`,
    SPOOL_DIR: await mkdtemp(join(tmpdir(), 'stowage-spool-')),
  };
}

/** The buckets of a set of overrides. */
export function bucketsOf(overrides: Record<string, string>): string[] {
  return [
    overrides.ARTIFACT_BUCKET_SAMPLES!,
    overrides.ARTIFACT_BUCKET_TA_BUNDLES!,
    overrides.ARTIFACT_BUCKET_DEBUG_BUNDLES!,
  ];
}

/** Writes `bytes` random bytes to a file, 1 MiB at a time; returns their SHA-256. */
export async function writeRandomFile(path: string, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  for (let left = bytes; left > 0;) {
    const chunk = randomBytes(Math.min(left, 1024 * 1024));
    hash.update(chunk);
    left -= chunk.length;
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return hash.digest('hex');
}

/** SHA-256 and length of an object's bytes, streamed from GetObject. */
export async function objectDigest(
  s3: S3Client,
  bucket: string,
  key: string,
): Promise<{ sha256: string; bytes: number }> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of out.Body as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** Incomplete multipart uploads in a bucket. */
export async function incompleteUploads(s3: S3Client, bucket: string): Promise<MultipartUpload[]> {
  return (await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? [];
}

/**
 * Aborts every multipart upload, deletes every object version (the TA and debug buckets are
 * versioned), then the bucket; a missing bucket is fine.
 */
export async function dropBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await removeBucket(s3, bucket);
  } catch (err) {
    if ((err as { name?: string }).name !== 'NoSuchBucket') throw err;
  }
}

/** Drops a test's buckets and its spool directory. */
export async function dropArtifacts(
  s3: S3Client,
  overrides: Record<string, string>,
): Promise<void> {
  await Promise.all(bucketsOf(overrides).map((b) => dropBucket(s3, b)));
  await rm(overrides.SPOOL_DIR!, { recursive: true, force: true });
}

/**
 * Moves a file into the spool the way the artifact intake does: named `<job tag>.<random>`
 * for the job this payload will have. Returns the payload with its spool source and the job
 * id, to enqueue with `{ trusted: true, jobId }` (the generic route refuses spool sources).
 */
export async function spoolForJob(
  producer: Producer<readonly AnyJobDefinition[]>,
  spoolDir: string,
  path: string,
  payload: Omit<InputOf<typeof artifactUploadJob>, 'source'> & {
    source: { size: number; sha256: string };
  },
  options: { idempotencyKey?: string } = {},
): Promise<{ jobId: string; file: string; payload: InputOf<typeof artifactUploadJob> }> {
  const withFile = (file: string) => ({
    ...payload,
    source: { type: 'spool' as const, file, ...payload.source },
  });
  const random = randomBytes(16).toString('hex');
  const jobId = producer.jobIdFor('artifact.upload', withFile(`x.${random}`), {
    ...options,
    trusted: true,
  });
  const file = `${spoolTagOf(jobId)}.${random}`;
  await rename(path, join(spoolDir, file));
  return { jobId, file, payload: withFile(file) };
}
