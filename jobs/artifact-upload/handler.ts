import { stat, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { artifactKey, type ArtifactKind } from '../../src/domain/artifact.js';
import type { UrlAllowlist } from '../../src/domain/url-allowlist.js';
import { PermanentError, TransientError, isPermanent } from '../../src/errors/index.js';
import type { ArtifactAuditLog } from '../../src/stores/postgres/artifact-audit.js';
import type { S3ArtifactStore } from '../../src/stores/s3/artifact-store.js';
import { Spool } from '../../src/stores/local/spool.js';
import {
  parseUploadCheckpoint,
  type UploadCheckpoint,
} from '../../src/stores/s3/upload-checkpoint.js';
import type { Handler, JobContext, PayloadOf } from '../job-definition.js';
import { JOB_ID_METADATA, spoolTagOf, type artifactUploadJob } from './definition.js';
import { openUrlSource, type ResolveHost } from './url-source.js';

/** What artifact.upload needs. */
export interface ArtifactUploadDeps {
  /** The artifact buckets: head, upload (from a file or a stream) and abort an upload. */
  artifacts: Pick<
    S3ArtifactStore,
    'bucketFor' | 'head' | 'uploadFile' | 'uploadStream' | 'abortUpload'
  >;
  /** Where admin overwrites are recorded; without it an overwrite fails the job. */
  audit?: Pick<ArtifactAuditLog, 'begin' | 'complete'>;
  settings: ArtifactUploadSettings;
  /** Resolves URL source hosts (tests point names at local servers); dns.lookup by default. */
  resolveHost?: ResolveHost;
}

/** The settings artifact.upload reads (projected from configuration once). */
export interface ArtifactUploadSettings {
  /** Absolute path of the spool directory shared with the api. */
  readonly spoolDir: string;
  /** ARTIFACT_MAX_BYTES: a URL source sending more fails with storage_quota_exceeded. */
  readonly maxBytes: number;
  readonly urlAllowlist: UrlAllowlist;
  /** URL_SOURCE_DEADLINE_MS: longest a URL source may take in full (default 30 min). */
  readonly urlDeadlineMs?: number;
  /** How long a URL source may stay silent (default 30 s). */
  readonly urlIdleTimeoutMs?: number;
}

export { JOB_ID_METADATA } from './definition.js';

type Payload = PayloadOf<typeof artifactUploadJob>;

/** A spool upload notes its progress in the job's log every this many finished parts. */
const NOTE_EVERY_PARTS = 10;

/** Where a URL source goes, and how its progress is reported. */
interface UrlRun {
  kind: ArtifactKind;
  bucket: string;
  key: string;
  report: (bytes: number, total: number | undefined) => Promise<void>;
}

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
 * before the object is completed. Write-once: an object already there with the declared
 * digest counts as done, one with another digest fails the job for good (artifact_exists)
 * unless the payload carries an admin overwrite, which is written to the audit log first.
 * A spool source is taken only when the file is bound to this job. The spool file is
 * removed only after success; on a permanent failure, a cancel or a timeout (not retried)
 * the multipart upload is aborted so nothing incomplete is left.
 */
export function createArtifactUploadHandler(
  deps: ArtifactUploadDeps,
): Handler<typeof artifactUploadJob> {
  return async (payload, ctx): Promise<ArtifactUploadResult> => {
    const kind = payload.target.kind;
    const bucket = deps.artifacts.bucketFor(kind);
    const key = artifactKey(payload.target);
    // Without one of its own, the job starts from the upload the intake filled (if any).
    let checkpoint =
      parseUploadCheckpoint(ctx.checkpoint) ?? intakeCheckpoint(payload, bucket, key);
    const report = (bytes: number, total: number | undefined) =>
      ctx.progress({
        bytes,
        total: total ?? null,
        percent: total === undefined ? null : total === 0 ? 100 : Math.floor((bytes * 100) / total),
      });
    const { source } = payload;
    // Checked before anything else: a file bound to another job is never read nor removed.
    if (source.type === 'spool' && !Spool.isBoundTo(source.file, spoolTagOf(ctx.jobId))) {
      throw new PermanentError(
        'spool_file_not_bound',
        'the spool file this job names belongs to another job; nothing was uploaded',
        { bucket, key },
      );
    }
    try {
      const head = await deps.artifacts.head(kind, key);
      const same =
        head !== undefined &&
        source.sha256 !== undefined &&
        head.sha256 === source.sha256 &&
        (source.size === undefined || head.size === source.size);
      if (head && same) {
        if (source.type === 'spool')
          await rm(join(deps.settings.spoolDir, source.file), { force: true });
        // A leftover of an attempt that crashed after another upload of the same bytes won.
        if (checkpoint) await deps.artifacts.abortUpload(checkpoint).catch(() => undefined);
        if (payload.overwrite) await deps.audit?.complete(ctx.jobId, head.versionId ?? null);
        await report(head.size, head.size);
        ctx.log.info({ bucket, key }, 'artifact already present with the same digest');
        ctx.note(`${bucket}/${key} already holds these bytes (same digest): nothing uploaded`);
        return { key, bucket, size: head.size, sha256: head.sha256 ?? '', already_present: true };
      }
      // An object this very job wrote on an earlier attempt is its own to finish.
      if (head && head.metadata[JOB_ID_METADATA] !== ctx.jobId) {
        if (!payload.overwrite) {
          throw new PermanentError(
            'artifact_exists',
            `${bucket}/${key} already holds another artifact (sha256 ${head.sha256 ?? 'unknown'}); artifacts are write-once and only an admin overwrite replaces one`,
            { bucket, key, existingSha256: head.sha256 ?? null },
          );
        }
        if (!deps.audit || source.sha256 === undefined) {
          throw new PermanentError(
            'overwrite_not_audited',
            `an overwrite of ${bucket}/${key} needs the audit log and a declared digest; nothing was replaced`,
            { bucket, key },
          );
        }
        // Written before the object is replaced: a crash in between still leaves the row.
        await deps.audit.begin({
          job_id: ctx.jobId,
          bucket,
          key,
          old_sha256: head.sha256 ?? null,
          old_version_id: head.versionId ?? null,
          new_sha256: source.sha256,
          api_key: payload.overwrite.api_key,
        });
        ctx.log.warn(
          { bucket, key, by: payload.overwrite.api_key, oldVersionId: head.versionId ?? null },
          'replacing an artifact (admin overwrite)',
        );
      }
      ctx.note(
        source.type === 'spool'
          ? `upload started: ${bucket}/${key} from the spool, ${source.size} bytes${
              checkpoint?.parts.length
                ? `, resuming after ${checkpoint.parts.length} parts already sent`
                : ''
            }`
          : `upload started: ${bucket}/${key} from ${source.url}`,
      );
      const result =
        source.type === 'spool'
          ? await fromSpool(deps, payload, source, ctx, {
              kind,
              bucket,
              key,
              checkpoint,
              onCheckpoint: async (state) => {
                checkpoint = state;
                await ctx.saveCheckpoint(state);
                const sent = state.parts.length;
                // Saved once before the first part too (the upload's id): not a step to note.
                if (sent > 0 && sent % NOTE_EVERY_PARTS === 0) ctx.note(`${sent} parts uploaded`);
              },
              report,
            })
          : await fromUrl(deps, payload, source, ctx, { kind, bucket, key, report });
      if (payload.overwrite) {
        const after = await deps.artifacts.head(kind, key);
        await deps.audit?.complete(ctx.jobId, after?.versionId ?? null);
      }
      return result;
    } catch (err) {
      // Permanent: no retry will continue the upload, so none is left incomplete. The spool
      // file stays for a person to look at while the failed job is kept; the sweep of
      // uploads.abort-stale removes it once the job is gone.
      // A cancel, or a timeout its type does not retry, ends the job for good the same way.
      const endsForGood =
        isPermanent(err) || (ctx.signal.aborted && isPermanent(ctx.signal.reason));
      if (endsForGood && checkpoint) {
        const aborted = await deps.artifacts.abortUpload(checkpoint).then(
          () => true,
          () => false,
        );
        if (aborted) ctx.note('multipart upload aborted: nothing incomplete is left in the bucket');
      }
      throw err;
    }
  };
}

/** The upload the intake filled while the request arrived, as a checkpoint with no parts yet. */
function intakeCheckpoint(
  payload: Payload,
  bucket: string,
  key: string,
): UploadCheckpoint | undefined {
  const { source } = payload;
  if (source.type !== 'spool' || source.parts === undefined) return undefined;
  return {
    uploadId: source.parts.upload_id,
    bucket,
    key,
    partSize: source.parts.part_size,
    sha256: source.sha256,
    parts: [],
  };
}

async function fromSpool(
  deps: ArtifactUploadDeps,
  payload: Payload,
  source: Extract<Payload['source'], { type: 'spool' }>,
  ctx: JobContext,
  run: {
    kind: ArtifactKind;
    bucket: string;
    key: string;
    checkpoint: UploadCheckpoint | undefined;
    onCheckpoint: (state: UploadCheckpoint) => Promise<void>;
    report: (bytes: number, total: number) => Promise<void>;
  },
): Promise<ArtifactUploadResult> {
  const { bucket, key } = run;
  const path = join(deps.settings.spoolDir, source.file);
  try {
    await stat(path);
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
    // The file's name is never shown: it is how a job is bound to its bytes.
    throw new PermanentError(
      'spool_file_missing',
      `the spool file of this job is gone and ${bucket}/${key} does not hold the artifact; upload it again`,
      { bucket, key },
    );
  }
  const result = await deps.artifacts.uploadFile(run.kind, key, {
    filePath: path,
    size: source.size,
    sha256: source.sha256,
    contentType: payload.content_type,
    metadata: { ...payload.metadata, [JOB_ID_METADATA]: ctx.jobId },
    checkpoint: run.checkpoint,
    partsSha256: source.parts?.parts_sha256,
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
  ctx.note(
    `verified and completed: ${result.size} bytes, sha256 ${result.sha256}, parts: ${result.parts} (${result.resumedParts} sent by an earlier attempt)`,
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
 * A URL source is fetched (allow-listed, DNS-pinned) and streamed into the store, which
 * verifies size and digest before the object completes and adds an undeclared digest to
 * its metadata afterwards. Not resumable: a retry fetches again.
 */
async function fromUrl(
  deps: ArtifactUploadDeps,
  payload: Payload,
  source: Extract<Payload['source'], { type: 'url' }>,
  ctx: JobContext,
  run: UrlRun,
): Promise<ArtifactUploadResult> {
  const { bucket, key } = run;
  const tooLarge = (size: number) =>
    new PermanentError(
      'storage_quota_exceeded',
      `the artifact has ${size} bytes, more than the limit of ${deps.settings.maxBytes}`,
      { bucket, key, size, maxBytes: deps.settings.maxBytes },
    );
  if (source.size !== undefined && source.size > deps.settings.maxBytes)
    throw tooLarge(source.size);

  // The idle timeout alone lets a server that sends a byte now and then hold a worker slot
  // for ever: the whole fetch, headers to last byte, also has a deadline.
  const deadlineMs = deps.settings.urlDeadlineMs ?? 30 * 60_000;
  const deadline = new AbortController();
  const timer = setTimeout(() => {
    deadline.abort(
      new TransientError(
        'url_source_deadline',
        `URL source ${urlWhere(source.url)} did not finish within URL_SOURCE_DEADLINE_MS (${deadlineMs} ms)`,
        { url: urlWhere(source.url), deadlineMs },
      ),
    );
  }, deadlineMs);
  timer.unref();
  const signal = AbortSignal.any([ctx.signal, deadline.signal]);
  try {
    return await fetchIntoBucket(deps, payload, source, ctx, run, signal, tooLarge);
  } catch (err) {
    if (deadline.signal.aborted && !ctx.signal.aborted) throw deadline.signal.reason;
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Origin and path of a URL: a query string or fragment may hold a token. */
function urlWhere(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

async function fetchIntoBucket(
  deps: ArtifactUploadDeps,
  payload: Payload,
  source: Extract<Payload['source'], { type: 'url' }>,
  ctx: JobContext,
  run: UrlRun,
  signal: AbortSignal,
  tooLarge: (size: number) => PermanentError,
): Promise<ArtifactUploadResult> {
  const { kind, bucket, key } = run;
  const opened = await openUrlSource(source.url, {
    allowlist: deps.settings.urlAllowlist,
    resolve: deps.resolveHost,
    idleTimeoutMs: deps.settings.urlIdleTimeoutMs ?? 30_000,
    signal,
  });
  const length = opened.contentLength;
  if (
    length !== undefined &&
    (length > deps.settings.maxBytes || (source.size !== undefined && length !== source.size))
  ) {
    opened.body.destroy();
    if (length > deps.settings.maxBytes) throw tooLarge(length);
    throw new PermanentError(
      'size_mismatch',
      `${opened.where} announces ${length} bytes, ${source.size} were declared`,
      { url: opened.where, declared: source.size, announced: length },
    );
  }
  const total = source.size ?? length;
  const result = await deps.artifacts.uploadStream(kind, key, {
    body: opened.body,
    from: opened.where,
    contentType: payload.content_type,
    metadata: { ...payload.metadata, [JOB_ID_METADATA]: ctx.jobId },
    maxBytes: deps.settings.maxBytes,
    expectedSize: source.size,
    expectedSha256: source.sha256,
    announcedSize: length,
    onProgress: (bytes) => void run.report(bytes, total).catch(() => undefined),
    signal,
  });
  const { size, sha256, etag } = result;
  await run.report(size, size);
  ctx.metrics.bytesUploaded(size);
  ctx.log.info({ bucket, key, size, from: opened.where }, 'artifact uploaded from a URL');
  ctx.note(`verified and completed: ${size} bytes, sha256 ${sha256}`);
  return { key, bucket, size, sha256, parts: result.parts, ...(etag ? { etag } : {}) };
}
