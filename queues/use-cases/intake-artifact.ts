import {
  artifactKey,
  artifactMetadataSchema,
  artifactTargetSchema,
  type ArtifactKind,
  type ArtifactTarget,
} from '../../src/domain/artifact.js';
import { PermanentError, ValidationError, type FieldIssue } from '../../src/errors/index.js';
import type { ArtifactReader } from '../../src/stores/s3/artifact-store.js';
import type { Spool, SpooledFile } from '../../src/stores/local/spool.js';
import type { IntakeParts } from '../../src/stores/s3/intake-parts.js';
import {
  JOB_ID_METADATA,
  artifactUploadJob,
  spoolTagOf,
} from '../../jobs/artifact-upload/definition.js';
import type { AnyJobDefinition } from '../../jobs/job-definition.js';
import type { Producer } from '../producer.js';
import type { KeyInScope } from './enqueue-job.js';

/** The header with which an admin key replaces an artifact of another digest. */
export const OVERWRITE_HEADER = 'X-Artifact-Overwrite';

const contentTypeSchema = artifactUploadJob.payload.shape.content_type;

/** What is known before the bytes are read: the validated target, content type and metadata. */
export interface PreparedUpload {
  target: ArtifactTarget;
  content_type: string;
  metadata: Record<string, string>;
}

/** How the sender named the content type and each metadata entry (for the errors). */
export interface UploadFieldNames {
  contentType: string;
  metadata: (name: string) => string;
}

/**
 * Validates target, content type and metadata together; one ValidationError names each
 * failing field as the sender wrote it.
 */
export function prepareUpload(
  target: Record<string, unknown>,
  contentType: string,
  metadata: Record<string, string>,
  names: UploadFieldNames,
): PreparedUpload {
  const issues: FieldIssue[] = [];
  const t = artifactTargetSchema.safeParse(target);
  if (!t.success) issues.push(...ValidationError.fromZod(t.error).issues);
  const c = contentTypeSchema.safeParse(contentType);
  if (!c.success) issues.push(...ValidationError.fromZod(c.error, names.contentType).issues);
  const m = artifactMetadataSchema.safeParse(metadata);
  if (!m.success) {
    for (const issue of m.error.issues) {
      const [name] = issue.path;
      issues.push({
        path: name === undefined ? 'metadata' : names.metadata(String(name)),
        message: issue.message,
      });
    }
  }
  if (!t.success || !c.success || !m.success) throw new ValidationError(issues);
  return { target: t.data, content_type: c.data, metadata: m.data };
}

/**
 * Write-once: a PermanentError `artifact_exists` (naming `key`) when the target's key already
 * holds an artifact with another digest.
 */
export async function refuseTaken(
  store: ArtifactReader,
  target: ArtifactTarget,
  sha256: string,
): Promise<void> {
  const key = artifactKey(target);
  const head = await store.head(target.kind, key);
  if (!head || head.sha256 === sha256) return;
  throw new PermanentError(
    'artifact_exists',
    `${target.kind} "${key}" already holds another artifact (sha256 ${head.sha256 ?? 'unknown'}); artifacts are write-once, an admin key may replace one with ${OVERWRITE_HEADER}: true`,
    { errors: [{ path: 'key', message: 'holds an artifact with another SHA-256' }] },
  );
}

/** What an intake answers: the job and the artifact it stores (the first request's on a replay). */
export interface IntakeAnswer {
  id: string;
  type: string;
  kind: ArtifactKind;
  key: string;
  bucket: string;
  size: number;
  sha256: string;
  content_type: string;
  replayed: boolean;
  status_url: string;
}

/** What intakeArtifact did: the answer, and the spooled file under its bound name. */
export interface IntakeResult {
  answer: IntakeAnswer;
  /** The received file, renamed to the job it is for. */
  spooled: SpooledFile;
  /** Whether a job now holds the spooled file (false on a replay: the caller removes it). */
  kept: boolean;
  /** Whether that job holds the parts sent during the request (else the caller aborts them). */
  partsKept: boolean;
}

/** What names an upload's job: the target, the digest and size, the overwrite, the key. */
export interface ArtifactJobFacts {
  prepared: PreparedUpload;
  overwrite?: { api_key: string } | undefined;
  size: number;
  sha256: string;
  scoped?: KeyInScope | undefined;
}

function enqueueOptions(scoped: KeyInScope | undefined) {
  return {
    trusted: true,
    ...(scoped === undefined ? {} : { idempotencyKey: scoped.key, keyScope: scoped.keyScope }),
  };
}

function payloadOf(facts: ArtifactJobFacts, file: string, parts?: IntakeParts) {
  const { prepared, size, sha256 } = facts;
  return {
    ...prepared,
    ...(facts.overwrite ? { overwrite: facts.overwrite } : {}),
    source: {
      type: 'spool',
      file,
      size,
      sha256,
      ...(parts
        ? {
            parts: {
              upload_id: parts.uploadId,
              part_size: parts.partSize,
              parts_sha256: parts.partsSha256,
            },
          }
        : {}),
    },
  };
}

/**
 * The id of the artifact.upload job these facts make (it depends on the key and digest,
 * not on the spool file), known before the body when its digest and size are declared.
 */
export function artifactJobIdFor(
  producer: Producer<readonly AnyJobDefinition[]>,
  facts: ArtifactJobFacts,
): string {
  return producer.jobIdFor(
    artifactUploadJob.name,
    payloadOf(facts, `${spoolTagOf('x')}.${'0'.repeat(32)}`),
    enqueueOptions(facts.scoped),
  );
}

/** The object metadata the job creates its upload with (the intake's parts use the same). */
export function artifactObjectMetadata(
  prepared: PreparedUpload,
  jobId: string,
): Record<string, string> {
  return { ...prepared.metadata, [JOB_ID_METADATA]: jobId };
}

/**
 * Binds a spooled file to the job it is for, then enqueues an artifact.upload job. The
 * intake is the one trusted producer of spool sources and overwrites (the generic enqueue
 * refuses both). A replay (the same key and digest) answers like the first request did,
 * from the job BullMQ kept. Parts sent during the request go with the job when they were
 * sent for this very job id.
 */
export async function intakeArtifact(
  deps: {
    producer: Producer<readonly AnyJobDefinition[]>;
    spool: Spool;
    /** The bucket of a kind, shown in the answer. */
    bucketFor: (kind: ArtifactKind) => string;
  },
  input: {
    prepared: PreparedUpload;
    overwrite?: { api_key: string } | undefined;
    received: SpooledFile;
    scoped?: KeyInScope | undefined;
    /** The upload filled during the request, and the job id its metadata names. */
    parts?: { parts: IntakeParts; jobId: string } | undefined;
  },
): Promise<IntakeResult> {
  const { producer, spool } = deps;
  const { prepared, received, scoped } = input;
  const { size, sha256 } = received;
  const facts: ArtifactJobFacts = { prepared, overwrite: input.overwrite, size, sha256, scoped };
  const options = enqueueOptions(scoped);
  const jobId = artifactJobIdFor(producer, facts);
  const parts = input.parts?.jobId === jobId ? input.parts.parts : undefined;
  const file = await spool.bind(received.file, spoolTagOf(jobId));
  const spooled = { ...received, file };
  const job = await producer.enqueueByName(artifactUploadJob.name, payloadOf(facts, file, parts), {
    ...options,
    jobId,
  });
  let view = { target: prepared.target, size, sha256, content_type: prepared.content_type };
  // BullMQ keeps a job that already has this id, with its own payload and spool file; that
  // job is the answer, so a replay answers like the first request did.
  const existing = await producer.findPayload(artifactUploadJob.name, job.id);
  const source = (existing as { source?: { file?: unknown } } | undefined)?.source;
  const replayed = existing !== undefined && source?.file !== file;
  if (replayed) {
    const stored = artifactUploadJob.payload.safeParse(existing);
    if (stored.success) {
      view = {
        target: stored.data.target,
        size: stored.data.source.size ?? size,
        sha256: stored.data.source.sha256 ?? sha256,
        content_type: stored.data.content_type,
      };
    }
  }
  const kind = prepared.target.kind;
  return {
    answer: {
      id: job.id,
      type: artifactUploadJob.name,
      kind,
      key: artifactKey(view.target),
      bucket: deps.bucketFor(kind),
      size: view.size,
      sha256: view.sha256,
      content_type: view.content_type,
      replayed,
      status_url: `/v1/jobs/${job.id}`,
    },
    spooled,
    kept: !replayed,
    partsKept: !replayed && parts !== undefined,
  };
}
