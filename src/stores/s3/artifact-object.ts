import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { byteRangeHeader, type ByteRange } from '../../domain/byte-range.js';
import { classifyS3Error, isS3NotFound, s3ErrorCode } from './classify-s3-error.js';

/** An object's bytes as S3 streams them, with what a download answer sends along. */
export interface ArtifactBody {
  /** GetObject's body, not yet read: the reader pipes it, or destroys it. */
  body: Readable;
  /** Bytes in `body`. */
  length: number;
  /** Bytes of the whole object. */
  size: number;
  /** The bytes served (inclusive), when a range was asked for and S3 honoured it. */
  range: { start: number; end: number } | undefined;
  contentType: string;
  etag: string | undefined;
  /** From x-amz-meta-sha256: the digest of the whole object (Stowage wrote it). */
  sha256: string | undefined;
  lastModified: Date | undefined;
}

/** What a GetObject of one key gave: the bytes, nothing, or a range past the end. */
export type OpenedObject =
  | { found: true; object: ArtifactBody }
  | { found: false }
  | { found: true; unsatisfiable: true; size: number };

const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+)$/;

/**
 * Opens an object for reading (one GetObject, the body left unread), with S3 honouring the
 * range. `bytes=-0` is answered here (RGW serves it whole), any other range past the end
 * is S3's InvalidRange; both report the object's size for the 416's Content-Range.
 */
export async function openObject(
  s3: S3Client,
  bucket: string,
  key: string,
  range: ByteRange | undefined,
): Promise<OpenedObject> {
  if (range && 'suffix' in range && range.suffix === 0) {
    const size = await objectSize(s3, bucket, key);
    return size === undefined ? { found: false } : { found: true, unsatisfiable: true, size };
  }
  try {
    const out = await s3.send(
      new GetObjectCommand({
        Bucket: bucket,
        Key: key,
        ...(range ? { Range: byteRangeHeader(range) } : {}),
      }),
    );
    const body = out.Body as Readable | undefined;
    if (!body) throw new Error(`GetObject ${bucket}/${key} answered without a body`);
    const length = out.ContentLength ?? 0;
    const served = CONTENT_RANGE.exec(out.ContentRange ?? '');
    return {
      found: true,
      object: {
        body,
        length,
        size: served ? Number(served[3]) : length,
        range: served ? { start: Number(served[1]), end: Number(served[2]) } : undefined,
        contentType: out.ContentType ?? 'application/octet-stream',
        etag: out.ETag,
        sha256: out.Metadata?.sha256,
        lastModified: out.LastModified,
      },
    };
  } catch (err) {
    if (s3ErrorCode(err) === 'InvalidRange') {
      const size = await objectSize(s3, bucket, key);
      return size === undefined ? { found: false } : { found: true, unsatisfiable: true, size };
    }
    if (isS3NotFound(err)) return { found: false };
    throw classifyS3Error(err, { bucket, key, operation: 'GetObject' });
  }
}

async function objectSize(s3: S3Client, bucket: string, key: string): Promise<number | undefined> {
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return head.ContentLength ?? 0;
  } catch (err) {
    if (isS3NotFound(err)) return undefined;
    throw classifyS3Error(err, { bucket, key, operation: 'HeadObject' });
  }
}

/** One stored version of a key, with its Object Lock state (HeadObject of that version). */
export interface ObjectVersion {
  /** `null` in a bucket that never had versioning. */
  versionId: string;
  isLatest: boolean;
  size: number;
  sha256: string | undefined;
  /** GOVERNANCE or COMPLIANCE while `retainUntil` is ahead; undefined without retention. */
  lockMode: string | undefined;
  retainUntil: Date | undefined;
  legalHold: boolean;
}

/**
 * Every version of exactly this key (not of the keys it prefixes), each with its Object Lock
 * state; delete markers are left out. Empty when the key holds nothing.
 */
export async function objectVersions(
  s3: S3Client,
  bucket: string,
  key: string,
): Promise<ObjectVersion[]> {
  const listed: { versionId: string; isLatest: boolean }[] = [];
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  do {
    let page;
    try {
      page = await s3.send(
        new ListObjectVersionsCommand({
          Bucket: bucket,
          Prefix: key,
          ...(keyMarker ? { KeyMarker: keyMarker } : {}),
          ...(versionMarker ? { VersionIdMarker: versionMarker } : {}),
        }),
      );
    } catch (err) {
      throw classifyS3Error(err, { bucket, key, operation: 'ListObjectVersions' });
    }
    for (const v of page.Versions ?? []) {
      if (v.Key === key) {
        listed.push({ versionId: v.VersionId ?? 'null', isLatest: v.IsLatest ?? false });
      }
    }
    const more = page.IsTruncated === true;
    keyMarker = more ? page.NextKeyMarker : undefined;
    versionMarker = more ? page.NextVersionIdMarker : undefined;
    // Past this key: the rest of the listing is other keys that it prefixes.
    if (keyMarker !== undefined && keyMarker > key) keyMarker = undefined;
  } while (keyMarker !== undefined);

  const versions: ObjectVersion[] = [];
  for (const { versionId, isLatest } of listed) {
    let head;
    try {
      head = await s3.send(
        new HeadObjectCommand({
          Bucket: bucket,
          Key: key,
          VersionId: versionId,
        }),
      );
    } catch (err) {
      // Deleted between the listing and the HEAD: it is not there any more.
      if (isS3NotFound(err)) continue;
      throw classifyS3Error(err, { bucket, key, operation: 'HeadObject' });
    }
    versions.push({
      versionId,
      isLatest,
      size: head.ContentLength ?? 0,
      sha256: head.Metadata?.sha256,
      lockMode: head.ObjectLockMode,
      retainUntil: head.ObjectLockRetainUntilDate,
      legalHold: head.ObjectLockLegalHoldStatus === 'ON',
    });
  }
  return versions;
}

/** Why S3 would refuse to delete this version (Object Lock), or undefined when it may go. */
export function lockOf(version: ObjectVersion, now: Date = new Date()): string | undefined {
  if (version.legalHold) return 'under legal hold';
  if (version.retainUntil && version.retainUntil > now) {
    return `under ${version.lockMode ?? 'Object Lock'} retention until ${version.retainUntil.toISOString()}`;
  }
  return undefined;
}

/**
 * Deletes one version for good (never with a governance bypass: S3 refuses a locked one);
 * `null` is the version written while the bucket was unversioned. One already gone is fine.
 */
export async function deleteObjectVersion(
  s3: S3Client,
  bucket: string,
  key: string,
  versionId: string,
): Promise<void> {
  try {
    await s3.send(
      new DeleteObjectCommand({
        Bucket: bucket,
        Key: key,
        // Always named, `null` too: without it a versioned bucket only adds a delete marker.
        VersionId: versionId,
      }),
    );
  } catch (err) {
    if (isS3NotFound(err) && s3ErrorCode(err) !== 'NoSuchBucket') return;
    throw classifyS3Error(err, { bucket, key, operation: 'DeleteObject' });
  }
}
