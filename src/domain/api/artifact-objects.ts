import type { Readable } from 'node:stream';
import { z } from 'zod';
import { ARTIFACT_KINDS } from '../artifact.js';

/** `200` of `DELETE /v1/artifacts/{kind}/objects/{key}`: what went (`deleted: false`: nothing was there). */
export const artifactDeletedSchema = z.strictObject({
  kind: z.enum(ARTIFACT_KINDS),
  key: z.string(),
  bucket: z.string(),
  deleted: z.boolean().describe('false when the key held nothing (deleting again is a no-op)'),
  version_ids: z.array(z.string()).describe('Every version removed, the current one last'),
  size: z.int().nullable(),
  sha256: z.string().nullable(),
  deleted_at: z.iso.datetime().nullable(),
});

/** The query of an artifact delete: why (kept in the audit trail). */
export const artifactDeleteQuerySchema = z.strictObject({
  reason: z
    .string()
    .min(1)
    .max(500)
    .regex(/^[^\p{Cc}]*$/u, 'no control characters')
    .optional()
    .describe('Why it is deleted; kept in the audit trail (artifact_deletions).'),
});

/** The bytes of an artifact, streamed (the body of a download). */
export const artifactBytesSchema = z
  .custom<Readable>()
  .meta({ type: 'string', contentMediaType: 'application/octet-stream' });
