import type { ArtifactKind } from '../../src/domain/artifact.js';
import { NotFoundError } from '../../src/errors/index.js';
import type { S3ArtifactStore } from '../../src/stores/s3/artifact-store.js';
import { checkArtifactKey } from './download-artifact.js';

/** What one stored artifact is, without its bytes. */
export interface ArtifactHeadView {
  kind: ArtifactKind;
  key: string;
  bucket: string;
  size: number;
  /** The digest of the whole object the upload verified; null for an object Stowage did not write. */
  sha256: string | null;
  /** ISO 8601; null when S3 did not say. */
  last_modified: string | null;
  etag: string | null;
  /** The current version in a versioned bucket; null otherwise. */
  version_id: string | null;
  metadata: Record<string, string>;
}

/**
 * Size, digest, version and metadata of one artifact by its key (one HeadObject, no byte
 * read); a ValidationError naming `key` when it is not a key of the kind, a NotFoundError
 * naming it when nothing is stored there.
 */
export async function headArtifact(
  store: Pick<S3ArtifactStore, 'head' | 'bucketFor'>,
  input: { kind: ArtifactKind; key: string },
): Promise<ArtifactHeadView> {
  const { kind, key } = input;
  checkArtifactKey(kind, key);
  const head = await store.head(kind, key);
  if (!head) {
    throw new NotFoundError(`no ${kind} "${key}"`, undefined, [
      { path: 'key', message: 'no such object' },
    ]);
  }
  return {
    kind,
    key,
    bucket: store.bucketFor(kind),
    size: head.size,
    sha256: head.sha256 ?? null,
    last_modified: head.lastModified?.toISOString() ?? null,
    etag: head.etag ?? null,
    version_id: head.versionId === undefined || head.versionId === 'null' ? null : head.versionId,
    metadata: head.metadata,
  };
}
