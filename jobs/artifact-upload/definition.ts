import { z } from 'zod';
import {
  artifactKey,
  artifactMetadataSchema,
  artifactSourceSchema,
  artifactTargetSchema,
} from '../../src/domain/artifact.js';
import { defineJob } from '../job-definition.js';

/** Streams an artifact from the spool (or an allowed URL) into its bucket by resumable multipart upload. */
export const artifactUploadJob = defineJob({
  name: 'artifact.upload',
  queue: 'artifacts',
  description:
    'Streams an artifact into its bucket by resumable multipart upload, verifying size and SHA-256.',
  scope: 'artifacts',
  payload: z.strictObject({
    target: artifactTargetSchema,
    source: artifactSourceSchema,
    content_type: z
      .string()
      .max(255)
      .regex(/^[\x20-\x7e]*$/, 'printable ASCII')
      .default('application/octet-stream'),
    metadata: artifactMetadataSchema,
  }),
  // One object, one content: the same key and digest (or URL) is the same job.
  idempotencyKey: (p) =>
    `${artifactKey(p.target)}:${p.source.type === 'spool' ? p.source.sha256 : (p.source.sha256 ?? p.source.url)}`,
  fixture: {
    target: {
      kind: 'sample',
      request_id: '3f1c2a9e-1111-4222-8333-444455556666',
      filename: 'sample.log',
    },
    source: {
      type: 'spool',
      file: 'upload-0001',
      size: 11,
      sha256: 'b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9',
    },
  },
});
