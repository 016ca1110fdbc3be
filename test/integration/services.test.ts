// The local servers from scripts/services.sh answer for real, configured as the project
// needs them. Reads the URLs that test/helpers/global-setup.ts put into process.env.
import { randomUUID } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectRetentionCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { createClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, expect, it } from 'vitest';

function env(key: string): string {
  const value = process.env[key];
  if (!value) throw new Error(`${key} is not set (is the globalSetup configured?)`);
  return value;
}

describe('local services', () => {
  it('Redis answers, with noeviction and AOF as BullMQ and the fault tests need', async () => {
    const redis = new Redis(env('REDIS_URL'), { maxRetriesPerRequest: 1, lazyConnect: true });
    try {
      await redis.connect();
      expect(await redis.ping()).toBe('PONG');
      expect(await redis.config('GET', 'maxmemory-policy')).toEqual([
        'maxmemory-policy',
        'noeviction',
      ]);
      expect(await redis.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      expect(await redis.config('GET', 'appendfsync')).toEqual(['appendfsync', 'everysec']);
    } finally {
      redis.disconnect();
    }
  });

  it('PostgreSQL answers, in the stowage database', async () => {
    const client = new pg.Client({ connectionString: env('DATABASE_URL') });
    await client.connect();
    try {
      const { rows } = await client.query<{ one: number; db: string }>(
        'select 1 as one, current_database() as db',
      );
      expect(rows).toEqual([{ one: 1, db: 'stowage' }]);
    } finally {
      await client.end();
    }
  });

  it('ClickHouse answers over HTTP and has the stowage database', async () => {
    const client = createClient({ url: env('CLICKHOUSE_URL') });
    try {
      const version = await client.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' });
      const [row] = await version.json<{ v: string }>();
      expect(row?.v).toMatch(/^\d+\.\d+/);

      const dbs = await client.query({
        query: 'SELECT name FROM system.databases',
        format: 'JSONEachRow',
      });
      const names = (await dbs.json<{ name: string }>()).map((r) => r.name);
      expect(names).toContain(env('CLICKHOUSE_DATABASE'));
    } finally {
      await client.close();
    }
  });

  it('S3 stores an object under Object Lock (GOVERNANCE) and reports its retention', async () => {
    const s3 = new S3Client({
      endpoint: env('S3_ENDPOINT'),
      region: env('S3_REGION'),
      credentials: {
        accessKeyId: env('S3_ACCESS_KEY_ID'),
        secretAccessKey: env('S3_SECRET_ACCESS_KEY'),
      },
      forcePathStyle: true,
      // Ceph RGW 16 does not take the SDK's default aws-chunked trailing checksums.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    const Bucket = `stowage-services-test-${randomUUID()}`;
    const Key = 'locked.txt';
    try {
      await s3.send(new CreateBucketCommand({ Bucket, ObjectLockEnabledForBucket: true }));
      const retainUntil = new Date(Date.now() + 60 * 60_000);
      const put = await s3.send(
        new PutObjectCommand({
          Bucket,
          Key,
          Body: 'hello, locked world',
          ObjectLockMode: 'GOVERNANCE',
          ObjectLockRetainUntilDate: retainUntil,
        }),
      );
      const VersionId = put.VersionId;
      expect(VersionId).toBeTruthy();

      const retention = await s3.send(new GetObjectRetentionCommand({ Bucket, Key, VersionId }));
      expect(retention.Retention?.Mode).toBe('GOVERNANCE');
      expect(
        Math.abs((retention.Retention?.RetainUntilDate?.getTime() ?? 0) - retainUntil.getTime()),
      ).toBeLessThan(2_000);

      const got = await s3.send(new GetObjectCommand({ Bucket, Key }));
      expect(await got.Body?.transformToString()).toBe('hello, locked world');

      // The lock is real: deleting the locked version is refused without the bypass...
      await expect(
        s3.send(new DeleteObjectCommand({ Bucket, Key, VersionId })),
      ).rejects.toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
      // ...and allowed with it (GOVERNANCE, unlike COMPLIANCE, can be bypassed).
      await s3.send(
        new DeleteObjectCommand({ Bucket, Key, VersionId, BypassGovernanceRetention: true }),
      );
      await s3.send(new DeleteBucketCommand({ Bucket }));
    } finally {
      s3.destroy();
    }
  });
});
