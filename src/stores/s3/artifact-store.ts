import {
  CreateBucketCommand,
  type BucketLocationConstraint,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
  type S3Client,
  type _Object,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ARTIFACT_KINDS, artifactPrefix, type ArtifactKind } from '../../domain/artifact.js';
import { ValidationError } from '../../errors/index.js';
import { classifyS3Error, isS3NotFound, s3ErrorCode } from './classify-s3-error.js';
import { abortMultipartUpload, type MultipartUploadRef } from './multipart-upload.js';
import {
  MAX_PARTS,
  uploadFileResumable,
  type ResumableUploadOptions,
  type ResumableUploadResult,
} from './resumable-upload.js';
import { IntakePartsUpload, type GiveUpReason } from './intake-parts.js';
import {
  deleteObjectVersion,
  objectVersions,
  openObject,
  type ObjectVersion,
  type OpenedObject,
} from './artifact-object.js';
import type { ByteRange } from '../../domain/byte-range.js';
import { abortStaleUploads, type BucketSweep } from './stale-uploads.js';
import {
  uploadStream,
  type StreamUploadOptions,
  type StreamUploadResult,
} from './stream-upload.js';

/** One stored artifact as the api lists it. */
export interface ArtifactInfo {
  key: string;
  size: number;
  /** From x-amz-meta-sha256; null for an object Stowage did not write. */
  sha256: string | null;
  /** ISO 8601. */
  last_modified: string;
  metadata: Record<string, string>;
}

/** What one kind's bucket holds. */
export interface BucketStats {
  bucket: string;
  objects: number;
  bytes: number;
  /** ISO 8601 last-modified of the oldest and newest object; null when empty. */
  oldest: string | null;
  newest: string | null;
}

/** What HeadObject tells about one artifact. */
export interface ArtifactHead {
  size: number;
  sha256: string | undefined;
  lastModified: Date | undefined;
  metadata: Record<string, string>;
  etag: string | undefined;
  /** The current version in a versioned bucket; undefined (or "null") otherwise. */
  versionId: string | undefined;
}

/**
 * Kinds whose bucket is versioned, so that an admin overwrite keeps the replaced bytes as an
 * older version. Samples are not: their retention (seed 003: 30 days) must really delete
 * them, and a versioned bucket would keep every deleted sample as a noncurrent version.
 */
export const VERSIONED_KINDS: ReadonlySet<ArtifactKind> = new Set(['ta-bundle', 'debug-bundle']);

/** The read side the api codes against (list, presigned URLs, stats). */
export interface ArtifactReader {
  /** Every object of one request (or validation run), by key. */
  list(kind: ArtifactKind, id: string): Promise<ArtifactInfo[]>;
  /** A presigned GET URL for one object; does not check that the object exists. */
  presign(kind: ArtifactKind, key: string, expiresInSeconds: number): Promise<string>;
  /** Object count, bytes and age range of each kind's bucket. */
  stats(): Promise<Record<ArtifactKind, BucketStats>>;
  /** The object's size, digest and metadata, or undefined when there is none. */
  head(kind: ArtifactKind, key: string): Promise<ArtifactHead | undefined>;
}

/** S3's longest presigned URL lifetime (SigV4): 7 days. */
export const PRESIGN_LIMIT_SECONDS = 604_800;

/** Most parts the api holds (filling or in flight) while it sends an upload during its request. */
export const INTAKE_PARTS_IN_MEMORY = 2;

// HeadObject per listed object: enough in flight to hide latency, few enough to be polite.
const HEAD_CONCURRENCY = 8;

/** How artifacts are cut into parts for upload (UPLOAD_PART_SIZE_BYTES, UPLOAD_QUEUE_SIZE). */
export interface UploadSettings {
  partSize: number;
  /** Parts in flight (and in memory) at once. */
  queueSize: number;
}

/** A local file to upload, with the size and SHA-256 it must have. */
export type FileUpload = Omit<
  ResumableUploadOptions,
  's3' | 'bucket' | 'key' | 'partSize' | 'queueSize'
>;

/** A stream to upload, with what to enforce on its bytes. */
export type StreamUpload = Omit<
  StreamUploadOptions,
  's3' | 'bucket' | 'key' | 'partSize' | 'queueSize'
>;

/**
 * The three artifact buckets of seed 003 (one per kind) over one S3 client: the read side
 * the api lists and presigns with, and the write side the artifact jobs upload with (from a
 * file, resumable and verified; from a stream, verified), so no handler speaks S3 itself.
 */
export class S3ArtifactStore implements ArtifactReader {
  constructor(
    private readonly s3: S3Client,
    private readonly buckets: Readonly<Record<ArtifactKind, string>>,
    private readonly uploads: UploadSettings,
  ) {}

  /** The bucket holding a kind. */
  bucketFor(kind: ArtifactKind): string {
    return this.buckets[kind];
  }

  /**
   * Creates the buckets that are missing. Safe from many processes at once: a bucket that
   * another process (or an earlier start) created counts as done once HeadBucket confirms
   * this account can use it.
   */
  async ensureBuckets(): Promise<void> {
    const region = await this.s3.config.region();
    await Promise.all(
      ARTIFACT_KINDS.map(async (kind) => {
        const Bucket = this.buckets[kind];
        try {
          await this.s3.send(
            new CreateBucketCommand({
              Bucket,
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
            throw classifyS3Error(err, { bucket: Bucket, operation: 'CreateBucket' });
          }
          // BucketAlreadyExists is also what AWS says when another account owns the name.
          await this.s3.send(new HeadBucketCommand({ Bucket })).catch((headErr: unknown) => {
            throw classifyS3Error(headErr, { bucket: Bucket, operation: 'HeadBucket' });
          });
        }
        // Every time, not only on creation: a bucket made before versioning was asked for
        // gets it too (enabling it again is a no-op).
        if (VERSIONED_KINDS.has(kind)) {
          await this.s3
            .send(
              new PutBucketVersioningCommand({
                Bucket,
                VersioningConfiguration: { Status: 'Enabled' },
              }),
            )
            .catch((err: unknown) => {
              throw classifyS3Error(err, { bucket: Bucket, operation: 'PutBucketVersioning' });
            });
        }
      }),
    );
  }

  async head(kind: ArtifactKind, key: string): Promise<ArtifactHead | undefined> {
    const Bucket = this.buckets[kind];
    try {
      const out = await this.s3.send(new HeadObjectCommand({ Bucket, Key: key }));
      const metadata = out.Metadata ?? {};
      return {
        size: out.ContentLength ?? 0,
        sha256: metadata.sha256,
        lastModified: out.LastModified,
        metadata,
        etag: out.ETag,
        versionId: out.VersionId,
      };
    } catch (err) {
      // A HEAD error has no body: a missing bucket also reads as NotFound, which the next
      // write reports properly as NoSuchBucket.
      if (isS3NotFound(err)) return undefined;
      throw classifyS3Error(err, { bucket: Bucket, key, operation: 'HeadObject' });
    }
  }

  async list(kind: ArtifactKind, id: string): Promise<ArtifactInfo[]> {
    const objects = await this.listAll(kind, artifactPrefix(kind, id));
    const infos: ArtifactInfo[] = [];
    // ListObjectsV2 carries no user metadata, so each object gets a HEAD, a few at a time.
    for (let i = 0; i < objects.length; i += HEAD_CONCURRENCY) {
      const batch = await Promise.all(
        objects.slice(i, i + HEAD_CONCURRENCY).map(async (o): Promise<ArtifactInfo | undefined> => {
          const key = o.Key ?? '';
          const head = await this.head(kind, key);
          // Deleted between the listing and the HEAD: it is not there any more.
          if (!head) return undefined;
          return {
            key,
            size: head.size,
            sha256: head.sha256 ?? null,
            last_modified: (head.lastModified ?? o.LastModified ?? new Date(0)).toISOString(),
            metadata: head.metadata,
          };
        }),
      );
      for (const info of batch) if (info) infos.push(info);
    }
    return infos;
  }

  async presign(kind: ArtifactKind, key: string, expiresInSeconds: number): Promise<string> {
    if (
      !Number.isInteger(expiresInSeconds) ||
      expiresInSeconds < 1 ||
      expiresInSeconds > PRESIGN_LIMIT_SECONDS
    ) {
      throw new ValidationError([
        {
          path: 'expires_in',
          message: `must be a whole number of seconds in 1..${PRESIGN_LIMIT_SECONDS}`,
        },
      ]);
    }
    const Bucket = this.buckets[kind];
    try {
      return await getSignedUrl(this.s3, new GetObjectCommand({ Bucket, Key: key }), {
        expiresIn: expiresInSeconds,
      });
    } catch (err) {
      throw classifyS3Error(err, { bucket: Bucket, key, operation: 'PresignGetObject' });
    }
  }

  async stats(): Promise<Record<ArtifactKind, BucketStats>> {
    const entries = await Promise.all(
      ARTIFACT_KINDS.map(async (kind): Promise<[ArtifactKind, BucketStats]> => {
        const stats: BucketStats = {
          bucket: this.buckets[kind],
          objects: 0,
          bytes: 0,
          oldest: null,
          newest: null,
        };
        let oldest: Date | undefined;
        let newest: Date | undefined;
        // Page by page: a bucket's listing is never held whole.
        await this.eachPage(kind, '', (page) => {
          for (const o of page) {
            stats.objects += 1;
            stats.bytes += o.Size ?? 0;
            const at = o.LastModified;
            if (at && (!oldest || at < oldest)) oldest = at;
            if (at && (!newest || at > newest)) newest = at;
          }
        });
        stats.oldest = oldest?.toISOString() ?? null;
        stats.newest = newest?.toISOString() ?? null;
        return [kind, stats];
      }),
    );
    return Object.fromEntries(entries) as Record<ArtifactKind, BucketStats>;
  }

  /**
   * Uploads a local file by resumable multipart upload (checkpointed after every part,
   * continued from a checkpoint), completing it only when its size and SHA-256 match.
   */
  uploadFile(kind: ArtifactKind, key: string, file: FileUpload): Promise<ResumableUploadResult> {
    return uploadFileResumable({
      ...file,
      s3: this.s3,
      bucket: this.buckets[kind],
      key,
      partSize: this.uploads.partSize,
      queueSize: this.uploads.queueSize,
    });
  }

  /**
   * Uploads a stream (not resumable), failing before completion on a size or digest
   * mismatch; an undeclared digest is computed and added to the object's metadata.
   */
  uploadStream(kind: ArtifactKind, key: string, stream: StreamUpload): Promise<StreamUploadResult> {
    return uploadStream({
      ...stream,
      s3: this.s3,
      bucket: this.buckets[kind],
      key,
      partSize: this.uploads.partSize,
      queueSize: this.uploads.queueSize,
    });
  }

  /**
   * Starts sending an artifact's parts while its request is still arriving: the upload is
   * created (at the first full part) with the object's final content type and metadata,
   * `sha256` and `size` added, and cut as uploadFile would cut it, so that the job can
   * complete it (or continue it from the spool file).
   */
  startIntakeParts(
    kind: ArtifactKind,
    key: string,
    object: {
      size: number;
      sha256: string;
      contentType: string;
      metadata: Record<string, string>;
      onGiveUp?: (reason: GiveUpReason) => void;
    },
  ): IntakePartsUpload {
    const { size, sha256 } = object;
    return new IntakePartsUpload({
      s3: this.s3,
      bucket: this.buckets[kind],
      key,
      size,
      partSize: this.partSizeFor(size),
      // The api holds fewer parts than a worker: its own footprint is larger (express, the
      // socket's chunks), and its parts leave as fast as the body arrives.
      queueSize: Math.min(this.uploads.queueSize, INTAKE_PARTS_IN_MEMORY),
      contentType: object.contentType,
      metadata: { ...object.metadata, sha256: sha256.toLowerCase(), size: String(size) },
      ...(object.onGiveUp ? { onGiveUp: object.onGiveUp } : {}),
    });
  }

  /** The part size uploads of this many bytes start with (UPLOAD_PART_SIZE_BYTES at least). */
  partSizeFor(size: number): number {
    return Math.max(this.uploads.partSize, Math.ceil(size / MAX_PARTS));
  }

  /** Aborts a multipart upload (one a checkpoint names); one already gone is fine. */
  abortUpload(upload: MultipartUploadRef): Promise<void> {
    return abortMultipartUpload(this.s3, upload);
  }

  /** Aborts the kind's multipart uploads initiated before `before` (dry: only lists them). */
  abortStaleUploads(
    kind: ArtifactKind,
    options: { before: Date; dryRun: boolean; signal?: AbortSignal },
  ): Promise<BucketSweep> {
    return abortStaleUploads(this.s3, this.buckets[kind], options);
  }

  /** Deletes one object; deleting one that is not there is not an error (S3 semantics). */
  async delete(kind: ArtifactKind, key: string): Promise<void> {
    const Bucket = this.buckets[kind];
    try {
      await this.s3.send(new DeleteObjectCommand({ Bucket, Key: key }));
    } catch (err) {
      throw classifyS3Error(err, { bucket: Bucket, key, operation: 'DeleteObject' });
    }
  }

  /** Opens one object for a download (its body unread), S3 honouring the range. */
  open(kind: ArtifactKind, key: string, range: ByteRange | undefined): Promise<OpenedObject> {
    return openObject(this.s3, this.buckets[kind], key, range);
  }

  /** Every version of exactly this key, each with its Object Lock state. */
  versions(kind: ArtifactKind, key: string): Promise<ObjectVersion[]> {
    return objectVersions(this.s3, this.buckets[kind], key);
  }

  /** Deletes one version of a key for good (S3 refuses a locked one: no bypass is sent). */
  deleteVersion(kind: ArtifactKind, key: string, versionId: string): Promise<void> {
    return deleteObjectVersion(this.s3, this.buckets[kind], key, versionId);
  }

  private async listAll(kind: ArtifactKind, prefix: string): Promise<_Object[]> {
    const all: _Object[] = [];
    await this.eachPage(kind, prefix, (page) => all.push(...page));
    return all;
  }

  private async eachPage(
    kind: ArtifactKind,
    prefix: string,
    visit: (page: _Object[]) => void,
  ): Promise<void> {
    const Bucket = this.buckets[kind];
    let token: string | undefined;
    do {
      try {
        const out = await this.s3.send(
          new ListObjectsV2Command({
            Bucket,
            ...(prefix ? { Prefix: prefix } : {}),
            ...(token ? { ContinuationToken: token } : {}),
          }),
        );
        visit(out.Contents ?? []);
        token = out.IsTruncated ? out.NextContinuationToken : undefined;
      } catch (err) {
        throw classifyS3Error(err, { bucket: Bucket, operation: 'ListObjectsV2' });
      }
    } while (token);
  }
}
