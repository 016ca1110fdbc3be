// `stowage init --verify-only` against the real services: it reports what init would create
// or change and changes nothing; an initialised world passes.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadBucketCommand, PutBucketVersioningCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import {
  CLICKHOUSE_TABLES,
  POSTGRES_HOT_TABLES,
  POSTGRES_TABLES,
  initComplete,
  verifyInit,
  type InitCheck,
} from '../../src/composition/init-verify.js';
import { SCHEMA_VERSION } from '../../src/stores/postgres/schema-version.js';
import { artifactOverrides, dropArtifacts, dropBucket } from '../helpers/artifacts.js';
import { runCli } from '../helpers/cli-process.js';
import { StowageWorld } from '../helpers/world.js';

const HOT_STORES = ['postgres', 'clickhouse'] as const;

async function bucketExists(s3: S3Client, bucket: string): Promise<boolean> {
  return s3.send(new HeadBucketCommand({ Bucket: bucket })).then(
    () => true,
    () => false,
  );
}

const byState = (checks: InitCheck[], state: InitCheck['state']) =>
  checks.filter((c) => c.state === state).map((c) => c.what);

describe.each(HOT_STORES)('stowage init --verify-only (HOT_STORE=%s)', (hotStore) => {
  let fresh: StowageWorld;
  let ready: StowageWorld;
  let freshOverrides: Record<string, string>;
  let readyOverrides: Record<string, string>;
  /** The environment a CLI process needs to see a world's schema, database and buckets. */
  const envOf = (world: StowageWorld, overrides: Record<string, string>) => ({
    ...overrides,
    HOT_STORE: hotStore,
    DATABASE_SCHEMA: world.config.DATABASE_SCHEMA,
    CLICKHOUSE_DATABASE: world.config.CLICKHOUSE_DATABASE,
    QUEUE_PREFIX: world.config.QUEUE_PREFIX,
    LOG_LEVEL: 'silent',
  });

  beforeAll(async () => {
    const archive = (label: string) => ({
      ARCHIVE_BUCKET: `t-${randomBytes(4).toString('hex')}-${label}`,
    });
    freshOverrides = {
      ...(await artifactOverrides()),
      ...archive('fresh-archive'),
      HOT_STORE: hotStore,
    };
    // A spool that does not exist yet: verify must not create it.
    await rm(freshOverrides.SPOOL_DIR!, { recursive: true });
    freshOverrides.SPOOL_DIR = join(tmpdir(), `stowage-verify-${randomBytes(4).toString('hex')}`);
    fresh = new StowageWorld(freshOverrides);

    readyOverrides = {
      ...(await artifactOverrides()),
      ...archive('ready-archive'),
      HOT_STORE: hotStore,
    };
    ready = new StowageWorld(readyOverrides);
    await ready.initStores();
    await ready.deps.wormArchive.ensureBucket();
  }, 60_000);
  afterAll(async () => {
    await dropBucket(ready.deps.s3, ready.config.ARCHIVE_BUCKET);
    await dropArtifacts(ready.deps.s3, readyOverrides);
    await ready.close();
    await dropBucket(fresh.deps.s3, fresh.config.ARCHIVE_BUCKET);
    await dropArtifacts(fresh.deps.s3, { ...freshOverrides, SPOOL_DIR: freshOverrides.SPOOL_DIR! });
    await fresh.close();
  });

  /** Nothing of the fresh world exists: no schema, database, bucket or spool directory. */
  const nothingCreated = async () => {
    const { rows } = await fresh.deps.pg.query(
      'SELECT 1 FROM information_schema.schemata WHERE schema_name = $1',
      [fresh.config.DATABASE_SCHEMA],
    );
    expect(rows).toEqual([]);
    // A plain identifier (t_ and hex): no parameters on this ClickHouse version.
    const databases = await fresh.deps.clickhouse.query({
      query: `SELECT count() FROM system.databases WHERE name = '${fresh.config.CLICKHOUSE_DATABASE}'`,
      format: 'TabSeparated',
    });
    expect((await databases.text()).trim()).toBe('0');
    for (const bucket of [
      fresh.config.ARTIFACT_BUCKET_SAMPLES,
      fresh.config.ARTIFACT_BUCKET_TA_BUNDLES,
      fresh.config.ARTIFACT_BUCKET_DEBUG_BUNDLES,
      fresh.config.ARCHIVE_BUCKET,
    ]) {
      expect(await bucketExists(fresh.deps.s3, bucket), bucket).toBe(false);
    }
    expect(existsSync(fresh.config.SPOOL_DIR)).toBe(false);
  };

  it('a fresh schema, database and buckets: every one reported missing, and nothing created', async () => {
    const checks = await verifyInit(fresh.deps);
    expect(initComplete(checks)).toBe(false);
    expect(byState(checks, 'error')).toEqual([]);
    expect(byState(checks, 'ok')).toEqual([]);
    const missing = byState(checks, 'missing');
    expect(missing).toContain(`postgres schema "${fresh.config.DATABASE_SCHEMA}"`);
    for (const table of POSTGRES_TABLES) {
      expect(missing).toContain(`postgres table ${fresh.config.DATABASE_SCHEMA}.${table}`);
    }
    expect(missing).toContain(`debug-bundle bucket ${fresh.config.ARTIFACT_BUCKET_DEBUG_BUNDLES}`);
    expect(missing).toContain(`archive bucket ${fresh.config.ARCHIVE_BUCKET}`);
    expect(missing).toContain(`spool directory ${fresh.config.SPOOL_DIR}`);
    if (hotStore === 'clickhouse') {
      for (const table of CLICKHOUSE_TABLES) {
        expect(missing).toContain(`clickhouse table ${fresh.config.CLICKHOUSE_DATABASE}.${table}`);
      }
    } else {
      for (const table of POSTGRES_HOT_TABLES) {
        expect(missing).toContain(`postgres table ${fresh.config.DATABASE_SCHEMA}.${table}`);
      }
    }
    await nothingCreated();
  });

  it('an initialised world: every check ok; the tables it checks are exactly those init creates', async () => {
    const checks = await verifyInit(ready.deps);
    expect(
      checks.filter((c) => c.state !== 'ok'),
      JSON.stringify(checks),
    ).toEqual([]);
    expect(checks.find((c) => c.what.startsWith('postgres schema'))?.detail).toContain(
      `at version ${SCHEMA_VERSION}`,
    );
    const { rows } = await ready.deps.pg.query<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
      [ready.config.DATABASE_SCHEMA],
    );
    const expected: string[] = [...POSTGRES_TABLES];
    if (hotStore === 'postgres') expected.push(...POSTGRES_HOT_TABLES);
    expect(rows.map((r) => r.table_name).sort()).toEqual(expected.sort());
  });

  it('an older schema version and a debug bucket with versioning suspended are reported outdated', async () => {
    const schema = ready.config.DATABASE_SCHEMA;
    const bucket = ready.config.ARTIFACT_BUCKET_DEBUG_BUNDLES;
    await ready.deps.pg.query(`UPDATE "${schema}".schema_version SET version = 1`);
    await ready.deps.s3.send(
      new PutBucketVersioningCommand({
        Bucket: bucket,
        VersioningConfiguration: { Status: 'Suspended' },
      }),
    );
    try {
      const checks = await verifyInit(ready.deps);
      expect(byState(checks, 'outdated').sort()).toEqual(
        [`debug-bundle bucket ${bucket}`, `postgres schema "${schema}"`].sort(),
      );
      expect(initComplete(checks)).toBe(false);
      // Still what it was: verify changed nothing.
      const { rows } = await ready.deps.pg.query<{ version: number }>(
        `SELECT version FROM "${schema}".schema_version`,
      );
      expect(rows[0]?.version).toBe(1);
    } finally {
      await ready.initStores();
    }
    expect(initComplete(await verifyInit(ready.deps))).toBe(true);
  });

  it.runIf(hotStore === 'postgres')(
    'the CLI exits 1 listing what is missing (creating nothing), and 0 on the initialised world',
    async () => {
      const missing = runCli(['init', '--verify-only'], envOf(fresh, freshOverrides));
      expect(await missing.exited, missing.output()).toBe(EXIT.failure);
      expect(missing.output()).toContain(
        `MISSING postgres schema "${fresh.config.DATABASE_SCHEMA}"`,
      );
      expect(missing.output()).toContain(
        `MISSING sample bucket ${fresh.config.ARTIFACT_BUCKET_SAMPLES}`,
      );
      await nothingCreated();

      const ok = runCli(['init', '--verify-only'], envOf(ready, readyOverrides));
      expect(await ok.exited, ok.output()).toBe(EXIT.ok);
      // Only check lines (the AWS SDK may warn on stderr about the Node version).
      const output = ok.output();
      expect(output).toContain(`ok   postgres schema "${ready.config.DATABASE_SCHEMA}"`);
      expect(output).toContain(`ok   archive bucket ${ready.config.ARCHIVE_BUCKET}`);
      expect(output, output).not.toMatch(/^(MISSING|OUTDATED|REFUSED|ERROR) /m);
    },
    60_000,
  );
});
