import { createHash } from 'node:crypto';
import {
  CreateBucketCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type BucketLocationConstraint,
  type HeadObjectCommandOutput,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { retentionEnd } from '../../domain/archive.js';
import { PermanentError } from '../../errors/index.js';
import type { ArchiveLockMode } from '../postgres/archive-ledger.js';
import { classifyS3Error, isS3NotFound, s3ErrorCode, s3ErrorStatus } from './classify-s3-error.js';

/** Server-side encryption of archive objects (ARCHIVE_SSE). */
export type ArchiveSse = 'AES256' | 'aws:kms' | 'none';

/** How an archive object is locked and encrypted. */
export interface LockPolicy {
  mode: ArchiveLockMode;
  sse: ArchiveSse;
  /** KMS key (BYOK) for aws:kms; unset means the account's default key. */
  kmsKeyId?: string | undefined;
}

/** What putLocked writes besides the bytes. */
export interface LockedPutOptions extends LockPolicy {
  retainUntil: Date;
  contentType: string;
  /** User metadata (x-amz-meta-*); keys in lower case. `sha256` is set by putLocked. */
  metadata?: Record<string, string>;
}

/** An archive object, verified on the server: size, digest, lock and encryption. */
export interface LockedObject {
  key: string;
  versionId: string | null;
  bytes: number;
  /** SHA-256 (hex) of the stored bytes, from x-amz-meta-sha256. */
  sha256: string;
  metadata: Record<string, string>;
  mode: ArchiveLockMode;
  /** As GetObjectRetention reports it. */
  retainUntil: Date;
  /** True when an object already there was taken instead of writing a new version. */
  reused: boolean;
}

/** What an object already in the bucket must match to be reused instead of written again. */
export interface ReuseExpectation extends LockPolicy {
  /** Metadata entries it must carry, exactly. */
  metadata: Record<string, string>;
  /** It must be locked at least this many years past its own last-modified time. */
  retentionYears: number;
}

// A clock difference between this worker and the S3 server that reuse tolerates when it
// compares an object's retain-until with its last-modified time.
const CLOCK_SKEW_MS = 3_600_000;

// 400s of a PutObject that another try cannot fix: the server refuses the encryption or lock
// headers, or does not know the KMS key. (BadDigest and IncompleteBody are corruption in
// transit: those stay transient.)
const REJECTED_PUT_CODES = new Set([
  'InvalidRequest',
  'InvalidArgument',
  'InvalidEncryptionAlgorithmError',
  'KMS.NotFoundException',
  'KMS.DisabledException',
  'KMS.KMSInvalidStateException',
  'NotImplemented',
]);

const sha256Hex = (body: Buffer) => createHash('sha256').update(body).digest('hex');

/**
 * The WORM archive bucket: writes objects under S3 Object Lock and verifies each on the
 * server before anyone may count on it. Stowage never deletes or overwrites here; a bucket
 * without Object Lock is refused.
 */
export class WormArchive {
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
  ) {}

  /** Throws a PermanentError unless the bucket exists and has Object Lock enabled. */
  async assertObjectLock(): Promise<void> {
    let enabled: string | undefined;
    try {
      const out = await this.s3.send(
        new GetObjectLockConfigurationCommand({ Bucket: this.bucket }),
      );
      enabled = out.ObjectLockConfiguration?.ObjectLockEnabled;
    } catch (err) {
      const code = s3ErrorCode(err);
      if (code === 'NoSuchBucket') {
        throw new PermanentError(
          'archive_bucket_missing',
          `archive bucket "${this.bucket}" does not exist: create it with Object Lock enabled (ObjectLockEnabledForBucket) or set ARCHIVE_BUCKET`,
          { bucket: this.bucket },
          { cause: err },
        );
      }
      if (code !== 'ObjectLockConfigurationNotFoundError') {
        throw classifyS3Error(err, {
          bucket: this.bucket,
          operation: 'GetObjectLockConfiguration',
        });
      }
    }
    if (enabled !== 'Enabled') {
      throw new PermanentError(
        'bucket_without_object_lock',
        `archive bucket "${this.bucket}" has no Object Lock, so archived objects could be deleted or overwritten: use a bucket created with Object Lock enabled (ARCHIVE_BUCKET)`,
        { bucket: this.bucket },
      );
    }
  }

  /**
   * Creates the bucket with Object Lock when it is missing, then checks the lock. For local
   * and development set-ups (tests, `stowage init`); production buckets are provisioned.
   */
  async ensureBucket(): Promise<void> {
    const region = await this.s3.config.region();
    try {
      await this.s3.send(
        new CreateBucketCommand({
          Bucket: this.bucket,
          ObjectLockEnabledForBucket: true,
          // us-east-1 is the one region that refuses its own name as a constraint.
          ...(region && region !== 'us-east-1'
            ? {
                CreateBucketConfiguration: {
                  LocationConstraint: region as BucketLocationConstraint,
                },
              }
            : {}),
        }),
      );
    } catch (err) {
      const code = s3ErrorCode(err);
      if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') {
        throw classifyS3Error(err, { bucket: this.bucket, operation: 'CreateBucket' });
      }
    }
    // An existing bucket (or one RGW "re-created" with 200) may lack the lock.
    await this.assertObjectLock();
  }

  /**
   * Puts one object locked (mode and retain-until) and encrypted as asked, with Content-MD5
   * (S3 requires it or a checksum on Object Lock PUTs), then verifies that very version: size
   * and x-amz-meta-sha256 by HeadObject, mode and date by GetObjectRetention. A mismatch is
   * a PermanentError.
   */
  async putLocked(key: string, body: Buffer, options: LockedPutOptions): Promise<LockedObject> {
    const sha256 = sha256Hex(body);
    const metadata = { ...options.metadata, sha256 };
    const input: PutObjectCommandInput = {
      Bucket: this.bucket,
      Key: key,
      Body: body,
      ContentLength: body.length,
      ContentMD5: createHash('md5').update(body).digest('base64'),
      ContentType: options.contentType,
      Metadata: metadata,
      ObjectLockMode: options.mode,
      ObjectLockRetainUntilDate: options.retainUntil,
    };
    if (options.sse !== 'none') input.ServerSideEncryption = options.sse;
    if (options.sse === 'aws:kms' && options.kmsKeyId) input.SSEKMSKeyId = options.kmsKeyId;

    let versionId: string | null;
    try {
      versionId = (await this.s3.send(new PutObjectCommand(input))).VersionId ?? null;
    } catch (err) {
      throw this.classifyPut(err, key, options);
    }
    const head = await this.head(key, versionId);
    const problems: string[] = [];
    if (!head) {
      problems.push('the object is not there after a successful PutObject');
    } else {
      if (head.ContentLength !== body.length) {
        problems.push(`size is ${head.ContentLength} bytes, ${body.length} were written`);
      }
      if (head.Metadata?.sha256 !== sha256) {
        problems.push(`x-amz-meta-sha256 is ${head.Metadata?.sha256 ?? 'missing'}, not ${sha256}`);
      }
      const sse = sseProblem(head, options);
      if (sse) problems.push(sse);
    }
    const retention = await this.retention(key, versionId);
    if (retention.mode !== options.mode) {
      problems.push(`lock mode is ${retention.mode ?? 'none'}, ${options.mode} was requested`);
    }
    if (!retention.until || retention.until < options.retainUntil) {
      problems.push(
        `retain-until is ${retention.until?.toISOString() ?? 'none'}, ${options.retainUntil.toISOString()} was requested`,
      );
    }
    if (problems.length > 0) throw this.verificationError(key, versionId, problems);
    return {
      key,
      versionId,
      bytes: body.length,
      sha256,
      metadata: head?.Metadata ?? metadata,
      mode: options.mode,
      retainUntil: retention.until ?? options.retainUntil,
      reused: false,
    };
  }

  /**
   * The current version of a key when it can stand for a new write: same metadata, same
   * lock mode, locked at least `retentionYears` past its last-modified time, encrypted as
   * asked. Undefined when there is none or it falls short (the caller then writes a new
   * version; the old one stays, locked).
   */
  async findReusable(key: string, expect: ReuseExpectation): Promise<LockedObject | undefined> {
    const head = await this.head(key, null);
    if (!head) return undefined;
    const metadata = head.Metadata ?? {};
    const sha256 = metadata.sha256;
    if (sha256 === undefined || !/^[0-9a-f]{64}$/.test(sha256)) return undefined;
    for (const [name, value] of Object.entries(expect.metadata)) {
      if (metadata[name] !== value) return undefined;
    }
    if (sseProblem(head, expect) !== undefined) return undefined;
    const versionId = head.VersionId ?? null;
    const retention = await this.retention(key, versionId);
    if (retention.mode !== expect.mode || !retention.until || !head.LastModified) return undefined;
    const required = retentionEnd(head.LastModified, expect.retentionYears).getTime();
    if (retention.until.getTime() < required - CLOCK_SKEW_MS) return undefined;
    return {
      key,
      versionId,
      bytes: head.ContentLength ?? 0,
      sha256,
      metadata,
      mode: expect.mode,
      retainUntil: retention.until,
      reused: true,
    };
  }

  private async head(
    key: string,
    versionId: string | null,
  ): Promise<HeadObjectCommandOutput | undefined> {
    try {
      return await this.s3.send(
        new HeadObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(versionId ? { VersionId: versionId } : {}),
        }),
      );
    } catch (err) {
      if (isS3NotFound(err)) return undefined;
      throw classifyS3Error(err, { bucket: this.bucket, key, operation: 'HeadObject' });
    }
  }

  private async retention(
    key: string,
    versionId: string | null,
  ): Promise<{ mode: string | undefined; until: Date | undefined }> {
    try {
      const out = await this.s3.send(
        new GetObjectRetentionCommand({
          Bucket: this.bucket,
          Key: key,
          ...(versionId ? { VersionId: versionId } : {}),
        }),
      );
      return { mode: out.Retention?.Mode, until: out.Retention?.RetainUntilDate };
    } catch (err) {
      // A version without retention answers "no lock configuration" (404): not locked.
      if (s3ErrorCode(err) === 'ObjectLockConfigurationNotFoundError') {
        return { mode: undefined, until: undefined };
      }
      throw classifyS3Error(err, { bucket: this.bucket, key, operation: 'GetObjectRetention' });
    }
  }

  private classifyPut(err: unknown, key: string, options: LockPolicy): Error {
    const classified = classifyS3Error(err, { bucket: this.bucket, key, operation: 'PutObject' });
    const code = s3ErrorCode(err);
    const message = err instanceof Error ? err.message : '';
    // RGW answers an unknown KMS key with 403 InvalidAccessKeyId, AWS a key it may not use
    // with 403 AccessDenied: both name KMS, and neither is about the S3 credentials.
    const kms = options.sse === 'aws:kms' && /\bkms\b/i.test(message);
    const rejected =
      s3ErrorStatus(err) === 400 && code !== undefined && REJECTED_PUT_CODES.has(code);
    if (!kms && !rejected) return classified;
    const sse =
      options.sse === 'none'
        ? ''
        : ` with server-side encryption ${options.sse}${options.kmsKeyId ? ` (KMS key ${options.kmsKeyId})` : ''}: check ARCHIVE_SSE and ARCHIVE_KMS_KEY_ID (a server without that encryption set up, one that refuses it over plain HTTP, or one that does not know the key answers so)`;
    return new PermanentError(
      'archive_put_rejected',
      `S3 refused an Object Lock PUT of ${this.bucket}/${key}${sse}: ${classified.message}`,
      { ...classified.context, sse: options.sse },
      { cause: err },
    );
  }

  private verificationError(key: string, versionId: string | null, problems: string[]) {
    return new PermanentError(
      'archive_verification_failed',
      `archive object ${this.bucket}/${key}${versionId ? ` (version ${versionId})` : ''} failed verification: ${problems.join('; ')}`,
      { bucket: this.bucket, key, versionId, problems },
    );
  }
}

/** Why an object's encryption is not what the policy asks, or undefined when it is. */
function sseProblem(head: HeadObjectCommandOutput, policy: LockPolicy): string | undefined {
  if (policy.sse === 'none') return undefined;
  const reported = head.ServerSideEncryption as string | undefined;
  if (reported !== policy.sse) {
    return `server-side encryption is ${reported ?? 'not reported'}, ${policy.sse} was requested`;
  }
  if (
    policy.sse === 'aws:kms' &&
    policy.kmsKeyId &&
    !sameKmsKey(policy.kmsKeyId, head.SSEKMSKeyId)
  ) {
    return `KMS key is ${head.SSEKMSKeyId ?? 'not reported'}, ${policy.kmsKeyId} was requested`;
  }
  return undefined;
}

/** Whether a reported KMS key is the requested one; AWS reports the key ARN whatever was asked. */
function sameKmsKey(requested: string, reported: string | undefined): boolean {
  if (reported === undefined) return false;
  if (reported === requested) return true;
  // An alias resolves to a key whose ARN does not name the alias: nothing to compare.
  if (requested.startsWith('alias/') || requested.includes(':alias/')) return true;
  return reported.endsWith(`:key/${requested}`);
}
