import {
  DeleteBucketLifecycleCommand,
  GetBucketLifecycleConfigurationCommand,
  PutBucketLifecycleConfigurationCommand,
  type LifecycleRule,
  type S3Client,
  type TransitionStorageClass,
} from '@aws-sdk/client-s3';
import { ARCHIVE_PREFIX } from '../../domain/archive.js';
import { classifyS3Error, s3ErrorCode, s3ErrorStatus } from './classify-s3-error.js';

/** The ID of the rule Stowage owns in the archive bucket's lifecycle configuration. */
export const ARCHIVE_TRANSITION_RULE_ID = 'stowage-archive-transition';

/** Where archive objects go, and when (ARCHIVE_TRANSITION_DAYS, ARCHIVE_STORAGE_CLASS). */
export interface ArchiveTransition {
  /** Days after creation; 0 removes Stowage's rule (other rules are kept). */
  days: number;
  storageClass: TransitionStorageClass;
}

/** What applying the transition did. */
export type ArchiveLifecycleOutcome =
  | { status: 'applied'; rules: number }
  | { status: 'disabled'; rules: number }
  | { status: 'refused'; code: string; message: string };

// What a server answers a lifecycle rule or storage class it does not support with
// (AWS: InvalidStorageClass / InvalidArgument; RGW: InvalidArgument, MalformedXML, 501).
const REFUSED_CODES = new Set([
  'InvalidStorageClass',
  'InvalidArgument',
  'InvalidRequest',
  'MalformedXML',
  'NotImplemented',
]);

/**
 * Sets the archive bucket's lifecycle rule that moves archive objects to a colder storage
 * class after some days: a Transition only, never an Expiration (Object Lock forbids deleting
 * a locked version anyway, and retention of the archive is the lock's job). Rules already
 * there (an AbortIncompleteMultipartUpload rule, an operator's own) are kept: the
 * configuration is read, Stowage's rule replaced by its ID, and written back whole. A server
 * that refuses the rule (a storage class it does not have) answers `refused`, not an error,
 * so `stowage init` can say so and carry on.
 */
export async function applyArchiveTransition(
  s3: S3Client,
  bucket: string,
  transition: ArchiveTransition,
): Promise<ArchiveLifecycleOutcome> {
  const existing = await lifecycleRules(s3, bucket);
  const others = existing.filter((r) => r.ID !== ARCHIVE_TRANSITION_RULE_ID).map(withFilter);
  const rules: LifecycleRule[] =
    transition.days > 0
      ? [
          ...others,
          {
            ID: ARCHIVE_TRANSITION_RULE_ID,
            Status: 'Enabled',
            Filter: { Prefix: `${ARCHIVE_PREFIX}/` },
            Transitions: [{ Days: transition.days, StorageClass: transition.storageClass }],
            // Versions a retried archive.lock left behind (still locked) move too.
            NoncurrentVersionTransitions: [
              { NoncurrentDays: transition.days, StorageClass: transition.storageClass },
            ],
          },
        ]
      : others;
  if (rules.length === 0) {
    // Nothing to keep and nothing to add: the bucket is left without a configuration.
    if (existing.length > 0) {
      try {
        await s3.send(new DeleteBucketLifecycleCommand({ Bucket: bucket }));
      } catch (err) {
        throw classifyS3Error(err, { bucket, operation: 'DeleteBucketLifecycle' });
      }
    }
    return { status: 'disabled', rules: 0 };
  }
  try {
    await s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: bucket,
        LifecycleConfiguration: { Rules: rules },
      }),
    );
  } catch (err) {
    const code = s3ErrorCode(err);
    const status = s3ErrorStatus(err);
    if ((code !== undefined && REFUSED_CODES.has(code)) || status === 501) {
      return {
        status: 'refused',
        code: code ?? String(status),
        message: err instanceof Error ? err.message : String(err),
      };
    }
    throw classifyS3Error(err, { bucket, operation: 'PutBucketLifecycleConfiguration' });
  }
  return transition.days > 0
    ? { status: 'applied', rules: rules.length }
    : { status: 'disabled', rules: rules.length };
}

/** The bucket's lifecycle rules, or none when it has no configuration. */
export async function lifecycleRules(s3: S3Client, bucket: string): Promise<LifecycleRule[]> {
  try {
    const out = await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }));
    return out.Rules ?? [];
  } catch (err) {
    if (s3ErrorCode(err) === 'NoSuchLifecycleConfiguration') return [];
    throw classifyS3Error(err, { bucket, operation: 'GetBucketLifecycleConfiguration' });
  }
}

/**
 * A rule as read, ready to be written back: RGW answers with the old top-level `Prefix`
 * where AWS has `Filter`, and a rule must carry exactly one of them.
 */
function withFilter(rule: LifecycleRule): LifecycleRule {
  // RGW still answers with the deprecated top-level Prefix.
  const { Prefix: prefix, ...rest } = rule;
  if (rest.Filter !== undefined) return rest;
  return { ...rest, Filter: { Prefix: prefix ?? '' } };
}

/** The one line `stowage init` prints about the transition rule. */
export function describeArchiveTransition(
  bucket: string,
  transition: ArchiveTransition,
  outcome: ArchiveLifecycleOutcome,
): string {
  switch (outcome.status) {
    case 'applied':
      return `ok   archive bucket ${bucket}: lifecycle moves archive objects to ${transition.storageClass} after ${transition.days} days (transition only, no expiration; ${outcome.rules} rule(s) in all)`;
    case 'disabled':
      return `ok   archive bucket ${bucket}: no storage-class transition (ARCHIVE_TRANSITION_DAYS=0); ${outcome.rules} other lifecycle rule(s) kept`;
    case 'refused':
      return `note archive bucket ${bucket}: the server refused a lifecycle transition to ${transition.storageClass} after ${transition.days} days (${outcome.code}: ${outcome.message}); archive objects stay in their storage class, other lifecycle rules unchanged`;
  }
}
