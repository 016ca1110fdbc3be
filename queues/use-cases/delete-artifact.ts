import type { ArtifactKind } from '../../src/domain/artifact.js';
import { PermanentError } from '../../src/errors/index.js';
import type { ArtifactDeletionLog } from '../../src/stores/postgres/artifact-deletions.js';
import { lockOf, type ObjectVersion } from '../../src/stores/s3/artifact-object.js';
import type { S3ArtifactStore } from '../../src/stores/s3/artifact-store.js';
import { checkArtifactKey } from './download-artifact.js';

/** What deleting an artifact needs: its buckets, the audit log, and the archive's bucket. */
export interface DeleteArtifactDeps {
  store: Pick<S3ArtifactStore, 'bucketFor' | 'versions' | 'deleteVersion'>;
  audit: Pick<ArtifactDeletionLog, 'begin' | 'complete'>;
  /** ARCHIVE_BUCKET: never emptied through the artifact routes, whatever a kind's bucket is. */
  archiveBucket: string | undefined;
  now?: () => Date;
}

/** What an explicit delete did; `deleted: false` when the key held nothing (idempotent). */
export interface ArtifactDeleted {
  kind: ArtifactKind;
  key: string;
  bucket: string;
  deleted: boolean;
  /** Every version removed (`null`: the one version of an unversioned bucket). */
  version_ids: string[];
  /** Bytes and digest of the version that was current; null when nothing was there. */
  size: number | null;
  sha256: string | null;
  /** ISO 8601; null when nothing was there. */
  deleted_at: string | null;
}

const SHA256 = /^[0-9a-f]{64}$/;

/** The refusal of a delete, naming why, before anything is sent to S3. */
function protectedArtifact(kind: ArtifactKind, key: string, why: string): PermanentError {
  return new PermanentError('artifact_protected', `${kind} "${key}" is not deleted: ${why}`, {
    kind,
    key,
    errors: [{ path: 'key', message: why }],
  });
}

/**
 * Deletes one sample or debug bundle for good: every version of its key (a delete marker
 * would leave the bytes readable), the older versions first. Refused (409
 * `artifact_protected`) before any DeleteObject when the key is a TA bundle (kept for ever,
 * DESIGN.md), lives in the archive bucket, or any version is under legal hold or unexpired
 * retention; S3 would refuse the versioned delete of a locked version anyway, as no
 * governance bypass is ever sent. The audit row is written before the first delete.
 * Deleting what is not there answers `deleted: false`.
 */
export async function deleteArtifact(
  deps: DeleteArtifactDeps,
  input: { kind: ArtifactKind; key: string; apiKey: string; reason: string | undefined },
): Promise<ArtifactDeleted> {
  const { kind, key } = input;
  checkArtifactKey(kind, key);
  if (kind === 'ta-bundle') {
    throw protectedArtifact(kind, key, 'TA bundles are never deleted (DESIGN.md)');
  }
  const bucket = deps.store.bucketFor(kind);
  if (deps.archiveBucket !== undefined && bucket === deps.archiveBucket) {
    throw protectedArtifact(kind, key, `bucket ${bucket} is the WORM archive (ARCHIVE_BUCKET)`);
  }
  const versions = await deps.store.versions(kind, key);
  const gone: ArtifactDeleted = {
    kind,
    key,
    bucket,
    deleted: false,
    version_ids: [],
    size: null,
    sha256: null,
    deleted_at: null,
  };
  if (versions.length === 0) return gone;
  const now = deps.now?.() ?? new Date();
  for (const version of versions) {
    const lock = lockOf(version, now);
    if (lock) {
      throw protectedArtifact(kind, key, `version ${version.versionId} is ${lock}`);
    }
  }
  const current: ObjectVersion = versions.find((v) => v.isLatest) ?? versions[0]!;
  const sha256 =
    current.sha256 !== undefined && SHA256.test(current.sha256) ? current.sha256 : null;
  // Older versions first, the current one last: a failure in between leaves the object readable.
  const order = [...versions.filter((v) => v !== current), current];
  const version_ids = order.map((v) => v.versionId);
  const id = await deps.audit.begin({
    kind,
    bucket,
    key,
    version_ids,
    size: current.size,
    sha256,
    api_key: input.apiKey,
    reason: input.reason ?? null,
  });
  for (const version of order) await deps.store.deleteVersion(kind, key, version.versionId);
  const deletedAt = await deps.audit.complete(id);
  return {
    ...gone,
    deleted: true,
    version_ids,
    size: current.size,
    sha256,
    deleted_at: deletedAt.toISOString(),
  };
}
