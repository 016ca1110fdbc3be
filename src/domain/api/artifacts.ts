import { z } from 'zod';
import { ARTIFACT_KINDS } from '../artifact.js';

const kind = z.enum(ARTIFACT_KINDS);

/** `202` of `POST /v1/artifacts/{kind}`: the spooled upload and its `artifact.upload` job. */
export const uploadAcceptedSchema = z.strictObject({
  id: z.string(),
  type: z.literal('artifact.upload'),
  kind,
  key: z.string(),
  bucket: z.string(),
  size: z.int(),
  sha256: z.string(),
  content_type: z.string(),
  replayed: z.boolean(),
  status_url: z.string(),
});

/** One stored artifact as a listing shows it. */
export const artifactInfoSchema = z.strictObject({
  key: z.string(),
  size: z.int(),
  sha256: z.string().nullable().describe('null for an object Stowage did not write'),
  last_modified: z.iso.datetime(),
  metadata: z.record(z.string(), z.string()),
});

/** `200` of `GET /v1/artifacts/{kind}/{id}`: the artifacts of one request or validation run. */
export const artifactListSchema = z.strictObject({
  kind,
  id: z.string(),
  bucket: z.string(),
  artifacts: z.array(artifactInfoSchema),
});

/** What one kind's bucket holds. */
export const bucketStatsSchema = z.strictObject({
  bucket: z.string(),
  objects: z.int(),
  bytes: z.int(),
  oldest: z.iso.datetime().nullable(),
  newest: z.iso.datetime().nullable(),
});

/** `200` of `GET /v1/artifacts/stats`: one entry per kind. */
export const artifactStatsSchema = z.record(kind, bucketStatsSchema);

/** `200` of `POST /v1/artifacts/{kind}/presign`: the URL and when it expires. */
export const presignedUrlSchema = z.strictObject({
  kind,
  key: z.string(),
  url: z.url(),
  expires_in: z.int(),
  expires_at: z.iso.datetime(),
});
