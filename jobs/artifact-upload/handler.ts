import { stat, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { CopyObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { artifactKey, type ArtifactKind } from '../../src/domain/artifact.js';
import type { UrlAllowlist } from '../../src/domain/url-allowlist.js';
import { PermanentError, TransientError, isPermanent } from '../../src/errors/index.js';
import type { S3ArtifactStore } from '../../src/stores/artifact-store.js';
import { classifyS3Error } from '../../src/stores/classify-s3-error.js';
import { DigestStream } from '../../src/stores/digest-stream.js';
import {
  abortMultipartUpload,
  parseUploadCheckpoint,
  uploadFileResumable,
  type UploadCheckpoint,
} from '../../src/stores/resumable-upload.js';
import type { Handler, JobContext, PayloadOf } from '../job-definition.js';
import type { artifactUploadJob } from './definition.js';
import { openUrlSource, type ResolveHost } from './url-source.js';

/** What artifact.upload needs. */
export interface ArtifactUploadDeps {
  artifacts: S3ArtifactStore;
  s3: S3Client;
  /** Absolute path of the spool directory shared with the api. */
  spoolDir: string;
  partSize: number;
  queueSize: number;
  /** ARTIFACT_MAX_BYTES: a URL source sending more fails with storage_quota_exceeded. */
  maxBytes: number;
  urlAllowlist: UrlAllowlist;
  /** Resolves URL source hosts (tests point names at local servers); dns.lookup by default. */
  resolveHost?: ResolveHost;
  /** How long a URL source may stay silent (default 30 s). */
  urlIdleTimeoutMs?: number;
}

type Payload = PayloadOf<typeof artifactUploadJob>;

/** What an artifact.upload job returns. */
export interface ArtifactUploadResult {
  key: string;
  bucket: string;
  size: number;
  sha256: string;
  /** The object was already there with this digest: nothing was uploaded. */
  already_present?: true;
  parts?: number;
  /** Parts an earlier, interrupted attempt had uploaded and this one did not send again. */
  resumed_parts?: number;
  sent_parts?: number;
  etag?: string;
}

/**
 * Moves an artifact from the spool (resumable multipart upload, checkpointed after every
 * part) or from an allowed URL (streamed) into its bucket, verifying size and SHA-256
 * before the object is completed. Idempotent: an object already there with the declared
 * digest counts as done. The spool file is removed only after success; on a permanent
 * failure the multipart upload is aborted so nothing incomplete is left.
 */
export function createArtifactUploadHandler(
  deps: ArtifactUploadDeps,
): Handler<typeof artifactUploadJob> {
  return async (payload, ctx): Promise<ArtifactUploadResult> => {
    const kind = payload.target.kind;
    const bucket = deps.artifacts.bucketFor(kind);
    const key = artifactKey(payload.target);
    let checkpoint = parseUploadCheckpoint(ctx.checkpoint);
    const report = (bytes: number, total: number | undefined) =>
      ctx.progress({
        bytes,
        total: total ?? null,
        percent: total === undefined ? null : total === 0 ? 100 : Math.floor((bytes * 100) / total),
      });
    try {
      const { source } = payload;
      const present = source.sha256
        ? await alreadyPresent(deps, kind, key, source.sha256, source.size)
        : undefined;
      if (present) {
        if (source.type === 'spool') await rm(join(deps.spoolDir, source.file), { force: true });
        // A leftover of an attempt that crashed after another upload of the same bytes won.
        if (checkpoint) await abortMultipartUpload(deps.s3, checkpoint).catch(() => undefined);
        await report(present.size, present.size);
        ctx.log.info({ bucket, key }, 'artifact already present with the same digest');
        return { key, bucket, size: present.size, sha256: present.sha256, already_present: true };
      }
      if (source.type === 'spool') {
        return await fromSpool(deps, payload, source, ctx, {
          bucket,
          key,
          checkpoint,
          onCheckpoint: async (state) => {
            checkpoint = state;
            await ctx.saveCheckpoint(state);
          },
          report,
        });
      }
      return await fromUrl(deps, payload, source, ctx, { kind, bucket, key, report });
    } catch (err) {
      // Permanent: no retry will continue the upload, so none is left incomplete.
      if (isPermanent(err) && checkpoint) {
        await abortMultipartUpload(deps.s3, checkpoint).catch(() => undefined);
      }
      throw err;
    }
  };
}

async function alreadyPresent(
  deps: ArtifactUploadDeps,
  kind: ArtifactKind,
  key: string,
  sha256: string,
  size: number | undefined,
): Promise<{ size: number; sha256: string } | undefined> {
  const head = await deps.artifacts.head(kind, key);
  if (!head || head.sha256 !== sha256) return undefined;
  if (size !== undefined && head.size !== size) return undefined;
  return { size: head.size, sha256 };
}

async function fromSpool(
  deps: ArtifactUploadDeps,
  payload: Payload,
  source: Extract<Payload['source'], { type: 'spool' }>,
  ctx: JobContext,
  run: {
    bucket: string;
    key: string;
    checkpoint: UploadCheckpoint | undefined;
    onCheckpoint: (state: UploadCheckpoint) => Promise<void>;
    report: (bytes: number, total: number) => Promise<void>;
  },
): Promise<ArtifactUploadResult> {
  const { bucket, key } = run;
  const path = join(deps.spoolDir, source.file);
  try {
    await stat(path);
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
    throw new PermanentError(
      'spool_file_missing',
      `spool file ${source.file} is gone and ${bucket}/${key} does not hold the artifact; upload it again`,
      { file: source.file, bucket, key },
    );
  }
  const result = await uploadFileResumable({
    s3: deps.s3,
    bucket,
    key,
    filePath: path,
    size: source.size,
    sha256: source.sha256,
    contentType: payload.content_type,
    metadata: payload.metadata,
    partSize: deps.partSize,
    queueSize: deps.queueSize,
    checkpoint: run.checkpoint,
    onCheckpoint: run.onCheckpoint,
    onProgress: (bytes, total) => run.report(bytes, total),
    signal: ctx.signal,
  });
  ctx.metrics.bytesUploaded(result.size);
  // Only now: until the object is complete and verified, the spool file is the only copy.
  await rm(path, { force: true });
  ctx.log.info(
    { bucket, key, size: result.size, parts: result.parts, resumedParts: result.resumedParts },
    'artifact uploaded from the spool',
  );
  return {
    key,
    bucket,
    size: result.size,
    sha256: result.sha256,
    parts: result.parts,
    resumed_parts: result.resumedParts,
    sent_parts: result.sentParts,
    ...(result.etag ? { etag: result.etag } : {}),
  };
}

/**
 * A URL source streams through a DigestStream into lib-storage's Upload (not resumable: a
 * retry fetches again, and a failed Upload aborts its multipart upload). The stream fails
 * before its end on a size or digest mismatch, so Upload never completes wrong bytes.
 * S3 metadata is fixed when an upload starts, so an undeclared digest is added afterwards
 * by copying the object onto itself (MetadataDirective REPLACE), guarded by its ETag.
 */
async function fromUrl(
  deps: ArtifactUploadDeps,
  payload: Payload,
  source: Extract<Payload['source'], { type: 'url' }>,
  ctx: JobContext,
  run: {
    kind: ArtifactKind;
    bucket: string;
    key: string;
    report: (bytes: number, total: number | undefined) => Promise<void>;
  },
): Promise<ArtifactUploadResult> {
  const { kind, bucket, key } = run;
  const tooLarge = (size: number) =>
    new PermanentError(
      'storage_quota_exceeded',
      `the artifact has ${size} bytes, more than the limit of ${deps.maxBytes}`,
      { bucket, key, size, maxBytes: deps.maxBytes },
    );
  if (source.size !== undefined && source.size > deps.maxBytes) throw tooLarge(source.size);

  const opened = await openUrlSource(source.url, {
    allowlist: deps.urlAllowlist,
    resolve: deps.resolveHost,
    idleTimeoutMs: deps.urlIdleTimeoutMs ?? 30_000,
    signal: ctx.signal,
  });
  const length = opened.contentLength;
  if (
    length !== undefined &&
    (length > deps.maxBytes || (source.size !== undefined && length !== source.size))
  ) {
    opened.body.destroy();
    if (length > deps.maxBytes) throw tooLarge(length);
    throw new PermanentError(
      'size_mismatch',
      `${opened.where} announces ${length} bytes, ${source.size} were declared`,
      { url: opened.where, declared: source.size, announced: length },
    );
  }
  const total = source.size ?? length;
  const digest = new DigestStream({
    maxBytes: deps.maxBytes,
    expectedSize: source.size,
    expectedSha256: source.sha256,
    progressEvery: deps.partSize,
    onProgress: (bytes) => void run.report(bytes, total).catch(() => undefined),
  });
  // Errors of either side end up in the Upload, which reads the digest stream.
  pipeline(opened.body, digest).catch(() => undefined);

  const metadata: Record<string, string> = {
    ...payload.metadata,
    ...(source.sha256 ? { sha256: source.sha256 } : {}),
    ...(total !== undefined ? { size: String(total) } : {}),
  };
  const upload = new Upload({
    client: deps.s3,
    params: {
      Bucket: bucket,
      Key: key,
      Body: digest,
      ContentType: payload.content_type,
      Metadata: metadata,
    },
    partSize: deps.partSize,
    queueSize: deps.queueSize,
    leavePartsOnError: false,
  });
  const stop = () => void upload.abort();
  ctx.signal.addEventListener('abort', stop, { once: true });
  try {
    await upload.done();
  } catch (err) {
    opened.body.destroy();
    if (ctx.signal.aborted) {
      throw new TransientError(
        'upload_interrupted',
        `upload of ${bucket}/${key} from ${opened.where} stopped`,
        {
          bucket,
          key,
        },
      );
    }
    throw classifyS3Error(err, { bucket, key, operation: 'Upload' });
  } finally {
    ctx.signal.removeEventListener('abort', stop);
  }

  const sha256 = digest.sha256;
  const size = digest.bytes;
  const head = await headOrFail(deps.s3, bucket, key);
  // Belt and braces: the stream already failed on any mismatch, so this never fires unless
  // something between us and S3 changed the bytes.
  if (sha256 === undefined || head.ContentLength !== size) {
    await deps.artifacts.delete(kind, key);
    throw new TransientError(
      'storage_upload_failed',
      `${bucket}/${key} holds ${head.ContentLength} bytes after upload, ${size} were sent; deleted`,
      { bucket, key },
    );
  }
  let etag = head.ETag;
  if (!source.sha256) {
    // REPLACE drops the content type too, so it is given again. IfMatch: the copy applies to
    // the bytes just hashed, not to an object someone wrote meanwhile.
    await deps.s3
      .send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: key,
          CopySource: `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`,
          ...(head.ETag ? { CopySourceIfMatch: head.ETag } : {}),
          MetadataDirective: 'REPLACE',
          ContentType: payload.content_type,
          Metadata: { ...metadata, sha256, size: String(size) },
        }),
      )
      .catch((err: unknown) => {
        throw classifyS3Error(err, { bucket, key, operation: 'CopyObject' });
      });
    etag = (await headOrFail(deps.s3, bucket, key)).ETag;
  }
  await run.report(size, size);
  ctx.metrics.bytesUploaded(size);
  ctx.log.info({ bucket, key, size, from: opened.where }, 'artifact uploaded from a URL');
  return {
    key,
    bucket,
    size,
    sha256,
    parts: Math.max(1, Math.ceil(size / deps.partSize)),
    ...(etag ? { etag } : {}),
  };
}

async function headOrFail(s3: S3Client, bucket: string, key: string) {
  return s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).catch((err: unknown) => {
    throw classifyS3Error(err, { bucket, key, operation: 'HeadObject' });
  });
}
