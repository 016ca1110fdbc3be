import { z } from 'zod';
import { KEY_LAYOUTS, targetOfKey, type ArtifactKind } from '../../src/domain/artifact.js';
import { NotFoundError, ValidationError } from '../../src/errors/index.js';
import type { ArtifactReader } from '../../src/stores/s3/artifact-store.js';

/** The bounds of a presigned URL's lifetime (PRESIGN_*_SECONDS). */
export interface PresignLimits {
  presignDefaultSeconds: number;
  presignMaxSeconds: number;
}

/** A presign request: `{key, expires_in?}`, bounded by PRESIGN_*_SECONDS. */
export function presignBodySchema(limits: PresignLimits) {
  return z.strictObject({
    key: z.string().min(1).max(1024),
    expires_in: z
      .number()
      .int()
      .min(1)
      .max(limits.presignMaxSeconds, `at most ${limits.presignMaxSeconds} seconds`)
      .default(Math.min(limits.presignDefaultSeconds, limits.presignMaxSeconds)),
  });
}

/** A download URL and how long it lives. */
export interface PresignedArtifact {
  kind: ArtifactKind;
  key: string;
  url: string;
  expires_in: number;
  expires_at: string;
}

/**
 * A presigned download URL for one stored artifact: the key must be exactly one artifactKey
 * makes for its kind (ValidationError naming `key`) and the object must exist (NotFoundError).
 */
export async function presignArtifact(
  store: ArtifactReader,
  limits: PresignLimits,
  input: { kind: ArtifactKind; body: unknown },
): Promise<PresignedArtifact> {
  const { kind } = input;
  const body = presignBodySchema(limits).safeParse(input.body);
  if (!body.success) throw ValidationError.fromZod(body.error);
  const { key, expires_in } = body.data;
  if (!targetOfKey(kind, key)) {
    throw new ValidationError([
      { path: 'key', message: `not a ${kind} key (${KEY_LAYOUTS[kind]})` },
    ]);
  }
  if (!(await store.head(kind, key))) {
    throw new NotFoundError(`no ${kind} "${key}"`, {
      errors: [{ path: 'key', message: 'no such object' }],
    });
  }
  // The clock is read before signing, so the URL lives at least until expires_at.
  const expiresAt = new Date(Date.now() + expires_in * 1000);
  const url = await store.presign(kind, key, expires_in);
  return { kind, key, url, expires_in, expires_at: expiresAt.toISOString() };
}
