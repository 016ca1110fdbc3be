// The archive bucket's lifecycle rule against Ceph RGW with Object Lock: a transition to a
// colder storage class (never an expiration), merged with the rules already there, and the
// line `stowage init` prints. RGW 16 here accepts any storage class name in a rule (it
// does not check it against its placement targets), so the accepted path is what runs.
import { randomBytes } from 'node:crypto';
import {
  GetBucketLifecycleConfigurationCommand,
  PutBucketLifecycleConfigurationCommand,
  type LifecycleRule,
  type S3Client,
} from '@aws-sdk/client-s3';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createS3 } from '../../src/connections/s3.js';
import {
  ARCHIVE_TRANSITION_RULE_ID,
  applyArchiveTransition,
  describeArchiveTransition,
  lifecycleRules,
} from '../../src/stores/s3/archive-lifecycle.js';
import { WormArchive } from '../../src/stores/s3/worm-archive.js';
import { randomBucketName, removeBucket } from '../helpers/buckets.js';
import { runCli } from '../helpers/cli-process.js';
import { testConfig } from '../helpers/world.js';

const ABORT_RULE: LifecycleRule = {
  ID: 'abort-incomplete-uploads',
  Status: 'Enabled',
  Filter: { Prefix: '' },
  AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
};

const byId = (rules: LifecycleRule[], id: string) => rules.find((r) => r.ID === id);

describe('archive lifecycle transition', () => {
  const config = testConfig();
  let s3: S3Client | undefined;
  let bucket: string | undefined;
  afterEach(async () => {
    if (s3 && bucket) await removeBucket(s3, bucket);
    s3?.destroy();
    s3 = undefined;
    bucket = undefined;
  });

  async function lockedBucket(): Promise<{ s3: S3Client; bucket: string }> {
    s3 = createS3(config);
    bucket = randomBucketName('lifecycle');
    await new WormArchive(s3, bucket).ensureBucket();
    return { s3, bucket };
  }

  it('adds a transition-only rule on the archive prefix and keeps an AbortIncompleteMultipartUpload rule already there', async () => {
    const { s3, bucket } = await lockedBucket();
    await s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: bucket,
        LifecycleConfiguration: { Rules: [ABORT_RULE] },
      }),
    );
    const transition = { days: 30, storageClass: 'STANDARD_IA' as const };
    const outcome = await applyArchiveTransition(s3, bucket, transition);
    expect(outcome).toEqual({ status: 'applied', rules: 2 });
    expect(describeArchiveTransition(bucket, transition, outcome)).toBe(
      `ok   archive bucket ${bucket}: lifecycle moves archive objects to STANDARD_IA after 30 days (transition only, no expiration; 2 rule(s) in all)`,
    );

    const rules = await lifecycleRules(s3, bucket);
    expect(rules).toHaveLength(2);
    const ours = byId(rules, ARCHIVE_TRANSITION_RULE_ID);
    expect(ours).toMatchObject({
      Status: 'Enabled',
      Filter: { Prefix: 'archive/iocs/v1/' },
      Transitions: [{ Days: 30, StorageClass: 'STANDARD_IA' }],
    });
    // Never an expiration: Object Lock keeps the archive, the rule only moves it.
    expect(ours?.Expiration).toBeUndefined();
    expect(ours?.NoncurrentVersionExpiration).toBeUndefined();
    // RGW answers the kept rule with the old top-level Prefix; it survived the rewrite.
    expect(byId(rules, ABORT_RULE.ID!)).toMatchObject({
      Status: 'Enabled',
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
    });

    // Applying again (another `stowage init`) replaces the rule, never duplicates it.
    const colder = { days: 90, storageClass: 'GLACIER_IR' as const };
    expect(await applyArchiveTransition(s3, bucket, colder)).toEqual({
      status: 'applied',
      rules: 2,
    });
    const again = await lifecycleRules(s3, bucket);
    expect(again.map((r) => r.ID).sort()).toEqual(
      [ABORT_RULE.ID!, ARCHIVE_TRANSITION_RULE_ID].sort(),
    );
    expect(byId(again, ARCHIVE_TRANSITION_RULE_ID)?.Transitions).toEqual([
      { Days: 90, StorageClass: 'GLACIER_IR' },
    ]);

    // ARCHIVE_TRANSITION_DAYS=0 removes Stowage's rule alone.
    expect(
      await applyArchiveTransition(s3, bucket, { days: 0, storageClass: 'STANDARD_IA' }),
    ).toEqual({ status: 'disabled', rules: 1 });
    expect((await lifecycleRules(s3, bucket)).map((r) => r.ID)).toEqual([ABORT_RULE.ID]);
  });

  it('on a bucket without lifecycle rules, 0 days leaves it without a configuration', async () => {
    const { s3, bucket } = await lockedBucket();
    expect(await applyArchiveTransition(s3, bucket, { days: 0, storageClass: 'GLACIER' })).toEqual({
      status: 'disabled',
      rules: 0,
    });
    await expect(
      s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket })),
    ).rejects.toMatchObject({ name: 'NoSuchLifecycleConfiguration' });
  });

  it('`stowage init` sets the rule and says so in one line', async () => {
    s3 = createS3(config);
    bucket = randomBucketName('init');
    const schema = `t_${randomBytes(5).toString('hex')}`;
    const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: 1 });
    try {
      const init = runCli(['init'], {
        DATABASE_SCHEMA: schema,
        HOT_STORE: 'postgres',
        ARCHIVE_ENABLED: 'true',
        ARCHIVE_BUCKET: bucket,
        ARCHIVE_TRANSITION_DAYS: '45',
        ARCHIVE_STORAGE_CLASS: 'GLACIER_IR',
        LOG_LEVEL: 'silent',
      });
      expect(await init.exited, init.output()).toBe(0);
      const lines = init.output().split('\n');
      expect(lines.filter((l) => l.includes('lifecycle'))).toEqual([
        `ok   archive bucket ${bucket}: lifecycle moves archive objects to GLACIER_IR after 45 days (transition only, no expiration; 1 rule(s) in all)`,
      ]);
      expect(
        byId(await lifecycleRules(s3, bucket), ARCHIVE_TRANSITION_RULE_ID)?.Transitions,
      ).toEqual([{ Days: 45, StorageClass: 'GLACIER_IR' }]);
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    }
  }, 120_000);
});
