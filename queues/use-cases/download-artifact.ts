import { parseByteRange } from '../../src/domain/byte-range.js';
import { KEY_LAYOUTS, targetOfKey, type ArtifactKind } from '../../src/domain/artifact.js';
import { NotFoundError, ValidationError } from '../../src/errors/index.js';
import type { ArtifactBody } from '../../src/stores/s3/artifact-object.js';
import type { S3ArtifactStore } from '../../src/stores/s3/artifact-store.js';

/** What a download answers: the bytes (all, or the range asked), or a range past the end. */
export type ArtifactDownload =
  { status: 200 | 206; object: ArtifactBody } | { status: 416; size: number };

/** Throws a ValidationError naming `key` unless it is exactly a key artifactKey makes for the kind. */
export function checkArtifactKey(kind: ArtifactKind, key: string): void {
  if (key.length === 0 || key.length > 1024 || !targetOfKey(kind, key)) {
    throw new ValidationError([
      { path: 'key', message: `not a ${kind} key (${KEY_LAYOUTS[kind]})` },
    ]);
  }
}

/**
 * Opens one stored artifact for streaming: a single `bytes=` range is honoured (206), any
 * other Range header is ignored (200, every byte), a range past the end is a 416. The body
 * is left unread for the adapter to pipe. NotFoundError (naming `key`) when there is none.
 */
export async function downloadArtifact(
  store: Pick<S3ArtifactStore, 'open'>,
  input: { kind: ArtifactKind; key: string; range: string | undefined },
): Promise<ArtifactDownload> {
  const { kind, key } = input;
  checkArtifactKey(kind, key);
  const opened = await store.open(kind, key, parseByteRange(input.range));
  if (!opened.found) {
    throw new NotFoundError(`no ${kind} "${key}"`, undefined, [
      { path: 'key', message: 'no such object' },
    ]);
  }
  if ('unsatisfiable' in opened) return { status: 416, size: opened.size };
  return { status: opened.object.range ? 206 : 200, object: opened.object };
}
