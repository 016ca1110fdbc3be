import { z } from 'zod';
import {
  artifactKey,
  artifactMetadataSchema,
  artifactSourceSchema,
  artifactTargetSchema,
} from '../../src/domain/artifact.js';
import { defineJob } from '../job-definition.js';
import { artifactTags } from './tags.js';

/** Streams an artifact from the spool (or an allowed URL) into its bucket by resumable multipart upload. */
export const artifactUploadJob = defineJob({
  name: 'artifact.upload',
  queue: 'artifacts',
  description:
    'Streams an artifact into its bucket by resumable multipart upload, verifying size and SHA-256.',
  scope: 'artifacts',
  // A multi-GB upload takes up to hours; past that it is aborted for good (no incomplete upload kept) and must be sent again.
  timeout: { ms: 2 * 60 * 60_000, retryable: false },
  payload: z.strictObject({
    target: artifactTargetSchema,
    source: artifactSourceSchema,
    content_type: z
      .string()
      .max(255)
      .regex(/^[\x20-\x7e]*$/, 'printable ASCII')
      .default('application/octet-stream'),
    metadata: artifactMetadataSchema,
    /**
     * Replace an object of another digest under the key (set by the artifact intake for an
     * admin key that asked for it): the name of that key, for the audit row.
     */
    overwrite: z.strictObject({ api_key: z.string().min(1).max(200) }).optional(),
  }),
  // One object, one content: the same key and digest (or URL) is the same job.
  idempotencyKey: (p) =>
    `${artifactKey(p.target)}:${p.source.type === 'spool' ? p.source.sha256 : (p.source.sha256 ?? p.source.url)}`,
  // Only the artifact intake creates spool jobs (for files it received itself) and overwrites.
  tags: (p) => artifactTags(p.target),
  reserved: (p) => [
    ...(p.source.type === 'spool'
      ? [
          {
            path: 'source.type',
            message: 'a spool source is created by POST /v1/artifacts/{kind} only; use "url"',
          },
        ]
      : []),
    ...(p.overwrite
      ? [{ path: 'overwrite', message: 'set by POST /v1/artifacts/{kind} for admin keys only' }]
      : []),
  ],
  fixture: {
    target: {
      kind: 'sample',
      request_id: '3f1c2a9e-1111-4222-8333-444455556666',
      filename: 'sample.log',
    },
    source: {
      type: 'spool',
      file: 'k0123456789abcdef0123456789abcdef01234567.0123456789abcdef0123456789abcdef',
      size: 11,
      sha256: 'b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9',
    },
  },
  summary: 'artifact uploads to S3',
});

/**
 * Object metadata naming the job that wrote it: a retry of that job may finish its own
 * object, while any other upload of other bytes to the key is refused (write-once).
 */
export const JOB_ID_METADATA = 'stowage-job-id';

/**
 * The tag a spool file bound to a job carries: the job id's suffix (after its last dot).
 * The intake names the file `<tag>.<128 random bits>`; the worker takes only files with its
 * own tag, so a payload naming another job's file cannot take it.
 */
export function spoolTagOf(jobId: string): string {
  return jobId.slice(jobId.lastIndexOf('.') + 1);
}

/** The job id a bound spool file belongs to, or undefined for a name that is not bound. */
export function jobIdOfSpoolFile(file: string): string | undefined {
  const dot = file.indexOf('.');
  return dot > 0 ? `${artifactUploadJob.name}.${file.slice(0, dot)}` : undefined;
}
