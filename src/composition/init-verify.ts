import { stat } from 'node:fs/promises';
import {
  GetBucketVersioningCommand,
  GetObjectLockConfigurationCommand,
  HeadBucketCommand,
} from '@aws-sdk/client-s3';
import { ARTIFACT_KINDS } from '../domain/artifact.js';
import {
  PostgresSchemaVersion,
  SCHEMA_VERSION,
  SchemaNotReadyError,
  checkClickHouseTable,
} from '../stores/postgres/schema-version.js';
import { s3ErrorCode, s3ErrorStatus } from '../stores/s3/classify-s3-error.js';
import { VERSIONED_KINDS } from '../stores/s3/artifact-store.js';
import type { InitRoot } from './root.js';

/**
 * What `stowage init --verify-only` found for one thing init manages: `ok`, `missing` or
 * `outdated` (init would create or change it), `refused` (init cannot fix it: an archive
 * bucket without Object Lock), `error` (the backend did not answer the question).
 */
export interface InitCheck {
  what: string;
  state: 'ok' | 'missing' | 'outdated' | 'refused' | 'error';
  detail: string;
}

/**
 * The PostgreSQL tables the stores' init() create (HOT_STORE=postgres adds `iocs`). A table
 * added to a store's init() belongs here too: init-verify.test.ts compares this list with
 * what init creates.
 */
export const POSTGRES_TABLES = [
  'schema_version',
  'watermarks',
  'watermark_history',
  'watermark_rewinds',
  'job_batches',
  'archive_ledger',
  'artifact_overwrites',
  'artifact_deletions',
  'detections',
  'detection_status_history',
  'config_entries',
  'config_versions',
  'archive_index',
  'activity_archive_ledger',
  'detection_archive_ledger',
  'record_index',
  'maintenance_plans',
  'maintenance_plan_items',
  'dead_letters',
] as const;

/** The hot store's own tables: PostgreSQL's when HOT_STORE=postgres, else ClickHouse's. */
export const POSTGRES_HOT_TABLES = ['iocs', 'activities', 'records'] as const;
export const CLICKHOUSE_TABLES = ['ioc_sightings', 'activities', 'records'] as const;

type VerifyRoot = Pick<InitRoot, 'config' | 'settings' | 'pg' | 'clickhouse' | 's3'>;

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * Reports what `stowage init` would create or change — the PostgreSQL schema and its version,
 * each table, the ClickHouse table, each artifact bucket and its versioning, the archive
 * bucket and its Object Lock, the spool directory — by reads alone: no DDL, no CreateBucket,
 * no PutBucketVersioning, no mkdir.
 */
export async function verifyInit(root: VerifyRoot): Promise<InitCheck[]> {
  const checks = await Promise.all([
    postgresChecks(root),
    clickhouseChecks(root),
    bucketChecks(root),
    spoolCheck(root),
  ]);
  return checks.flat();
}

/** Whether init has nothing left to do. */
export function initComplete(checks: readonly InitCheck[]): boolean {
  return checks.every((c) => c.state === 'ok');
}

async function postgresChecks(root: VerifyRoot): Promise<InitCheck[]> {
  const schema = root.config.DATABASE_SCHEMA;
  const out: InitCheck[] = [];
  try {
    const version = await new PostgresSchemaVersion(root.pg, { schema }).read();
    out.push(
      version === undefined
        ? {
            what: `postgres schema "${schema}"`,
            state: 'missing',
            detail: `no schema_version: init would create the schema at version ${SCHEMA_VERSION}`,
          }
        : version < SCHEMA_VERSION
          ? {
              what: `postgres schema "${schema}"`,
              state: 'outdated',
              detail: `at version ${version}: init would bring it to ${SCHEMA_VERSION}`,
            }
          : {
              what: `postgres schema "${schema}"`,
              state: 'ok',
              detail: `at version ${version} (this build needs ${SCHEMA_VERSION})`,
            },
    );
    const { rows } = await root.pg.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1`,
      [schema],
    );
    const present = new Set(rows.map((r) => r.table_name));
    const wanted: string[] = [...POSTGRES_TABLES];
    if (root.config.HOT_STORE === 'postgres') wanted.push(...POSTGRES_HOT_TABLES);
    for (const table of wanted) {
      out.push(
        present.has(table)
          ? { what: `postgres table ${schema}.${table}`, state: 'ok', detail: 'exists' }
          : {
              what: `postgres table ${schema}.${table}`,
              state: 'missing',
              detail: 'init would create it',
            },
      );
    }
  } catch (err) {
    out.push({ what: `postgres schema "${schema}"`, state: 'error', detail: message(err) });
  }
  return out;
}

async function clickhouseChecks(root: VerifyRoot): Promise<InitCheck[]> {
  if (root.config.HOT_STORE !== 'clickhouse') return [];
  const database = root.config.CLICKHOUSE_DATABASE;
  const checks = CLICKHOUSE_TABLES.map(async (table): Promise<InitCheck> => {
    const what = `clickhouse table ${database}.${table}`;
    try {
      await checkClickHouseTable(root.clickhouse, database, table);
      return { what, state: 'ok', detail: 'exists' };
    } catch (err) {
      if (err instanceof SchemaNotReadyError) {
        return { what, state: 'missing', detail: 'init would create it (and its database)' };
      }
      return { what, state: 'error', detail: message(err) };
    }
  });
  return Promise.all(checks);
}

/** Whether a bucket exists (HeadBucket: 404 is no, 403 another owner's, anything else thrown). */
async function bucketExists(root: VerifyRoot, bucket: string): Promise<boolean> {
  try {
    await root.s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return true;
  } catch (err) {
    const code = s3ErrorCode(err);
    if (code === 'NotFound' || code === 'NoSuchBucket' || s3ErrorStatus(err) === 404) return false;
    throw err;
  }
}

async function bucketChecks(root: VerifyRoot): Promise<InitCheck[]> {
  const { config } = root;
  const buckets = {
    sample: config.ARTIFACT_BUCKET_SAMPLES,
    'ta-bundle': config.ARTIFACT_BUCKET_TA_BUNDLES,
    'debug-bundle': config.ARTIFACT_BUCKET_DEBUG_BUNDLES,
  };
  const checks = ARTIFACT_KINDS.map(async (kind): Promise<InitCheck[]> => {
    const bucket = buckets[kind];
    const what = `${kind} bucket ${bucket}`;
    try {
      if (!(await bucketExists(root, bucket))) {
        return [
          {
            what,
            state: 'missing',
            detail: VERSIONED_KINDS.has(kind)
              ? 'init would create it, versioned'
              : 'init would create it',
          },
        ];
      }
      if (!VERSIONED_KINDS.has(kind)) return [{ what, state: 'ok', detail: 'exists' }];
      const versioning = await root.s3.send(new GetBucketVersioningCommand({ Bucket: bucket }));
      return versioning.Status === 'Enabled'
        ? [{ what, state: 'ok', detail: 'exists, versioned' }]
        : [
            {
              what,
              state: 'outdated',
              detail: `versioning ${versioning.Status ?? 'never enabled'}: init would enable it`,
            },
          ];
    } catch (err) {
      return [{ what, state: 'error', detail: message(err) }];
    }
  });
  if (config.ARCHIVE_ENABLED) checks.push(archiveCheck(root));
  return (await Promise.all(checks)).flat();
}

async function archiveCheck(root: VerifyRoot): Promise<InitCheck[]> {
  const bucket = root.config.ARCHIVE_BUCKET;
  const what = `archive bucket ${bucket}`;
  try {
    if (!(await bucketExists(root, bucket))) {
      return [{ what, state: 'missing', detail: 'init would create it with Object Lock' }];
    }
    let enabled: string | undefined;
    try {
      const out = await root.s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
      enabled = out.ObjectLockConfiguration?.ObjectLockEnabled;
    } catch (err) {
      if (s3ErrorCode(err) !== 'ObjectLockConfigurationNotFoundError') throw err;
    }
    return enabled === 'Enabled'
      ? [{ what, state: 'ok', detail: 'exists, Object Lock enabled' }]
      : [
          {
            what,
            state: 'refused',
            detail:
              'exists WITHOUT Object Lock: init cannot add it; use a bucket created with Object Lock',
          },
        ];
  } catch (err) {
    return [{ what, state: 'error', detail: message(err) }];
  }
}

async function spoolCheck(root: VerifyRoot): Promise<InitCheck[]> {
  const dir = root.settings.uploads.spoolDir;
  const what = `spool directory ${dir}`;
  try {
    const info = await stat(dir);
    return info.isDirectory()
      ? [{ what, state: 'ok', detail: 'exists' }]
      : [{ what, state: 'refused', detail: 'exists but is not a directory' }];
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') {
      return [{ what, state: 'missing', detail: 'init would create it (mode 0700)' }];
    }
    return [{ what, state: 'error', detail: message(err) }];
  }
}

/** One line per check, as `stowage init` prints its own (`ok   …`, `MISSING …`). */
export function formatInitCheck(check: InitCheck): string {
  const label = check.state === 'ok' ? 'ok  ' : check.state.toUpperCase();
  return `${label} ${check.what}: ${check.detail}`;
}
