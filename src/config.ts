import { validate as isValidCron } from 'node-cron';
import { z } from 'zod';
import { parseCidrList, type NetworkCidr } from './domain/network-cidr.js';
import {
  parseMemoryCeiling,
  parseTenantQuotas,
  type MemoryCeiling,
  type TenantQuotas,
} from './domain/tenant-quota.js';

/** Every queue Stowage serves, in the order the worker starts them. */
export const QUEUE_NAMES = ['ingest', 'cache', 'artifacts', 'archive', 'maintenance'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

/** API scopes a key may hold. */
export const SCOPES = ['ingest', 'artifacts', 'read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** The backends the hot IOC store can run on (HOT_STORE); declared here once. */
export const HOT_BACKENDS = ['postgres', 'clickhouse'] as const;
export type HotBackendName = (typeof HOT_BACKENDS)[number];

export interface ApiKey {
  /** A name for logs and audit; never the secret. */
  name: string;
  secret: string;
  scopes: ReadonlySet<Scope>;
  /**
   * Whose work the key's requests are: fairness, quotas, usage and job search group by it.
   * Several keys may share one; unset in API_KEYS, the key's own name.
   */
  tenant: string;
}

/** A tenant name: it becomes part of queue names, metric labels and Redis keys. */
const TENANT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const port = z.coerce.number().int().min(1).max(65535);

const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );

/** The tenant of a key that names none: its name, folded into a tenant name's alphabet. */
export function tenantOfKeyName(name: string): string {
  const folded = name
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[-_]+/, '')
    .slice(0, 63);
  return folded === '' ? 'default' : folded;
}

/** `name:secret:scope+scope[:tenant],…` — several keys, comma-separated. */
const apiKeys = z.string().transform((raw, ctx): ApiKey[] => {
  const keys: ApiKey[] = [];
  for (const [i, entry] of raw.split(',').entries()) {
    const trimmed = entry.trim();
    if (trimmed === '') continue;
    const [name, secret, scopeList, tenantField, ...rest] = trimmed.split(':');
    if (!name || !secret || !scopeList || tenantField === '' || rest.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `entry ${i} must be name:secret:scope+scope or name:secret:scope+scope:tenant`,
      });
      continue;
    }
    const tenant = tenantField ?? tenantOfKeyName(name);
    if (!TENANT_NAME.test(tenant)) {
      ctx.addIssue({
        code: 'custom',
        message: `key "${name}" tenant "${tenant}" must be 1-63 of a-z, 0-9, _ and -, starting with a letter or digit`,
      });
    }
    if (secret.length < 16) {
      ctx.addIssue({
        code: 'custom',
        message: `key "${name}" secret must be at least 16 characters`,
      });
    }
    const scopes = scopeList.split('+');
    const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
    if (unknown.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `key "${name}" has unknown scope(s) ${unknown.join(', ')} (known: ${SCOPES.join(', ')})`,
      });
    }
    const twin = keys.find((k) => k.secret === secret);
    if (twin) {
      // Which scopes would apply is a guess (the last listed won): refuse in every mode.
      ctx.addIssue({
        code: 'custom',
        message: `key "${name}" has the same secret as key "${twin.name}"; each key needs its own`,
      });
    }
    keys.push({ name, secret, scopes: new Set(scopes as Scope[]), tenant });
  }
  return keys;
});

/** Shortest API key secret production accepts. */
export const PRODUCTION_MIN_SECRET_LENGTH = 24;
/** Fewest distinct characters of an API key secret in production (a random hex secret has 16). */
export const PRODUCTION_MIN_DISTINCT_CHARS = 8;
/** The placeholder secrets this repository ships (docker-compose.yml, deploy/k8s, .env.example). */
const PLACEHOLDER = /change-?me/i;

/** Why a secret is too weak for production, or undefined; never quotes the secret. */
export function weakSecretReason(secret: string): string | undefined {
  if (PLACEHOLDER.test(secret)) return 'is a placeholder from the shipped examples (CHANGE-ME)';
  if (/[\s\p{Cc}]/u.test(secret)) return 'contains whitespace or control characters';
  if (secret.length < PRODUCTION_MIN_SECRET_LENGTH) {
    return `is shorter than ${PRODUCTION_MIN_SECRET_LENGTH} characters`;
  }
  if (new Set(secret).size < PRODUCTION_MIN_DISTINCT_CHARS) {
    return `has fewer than ${PRODUCTION_MIN_DISTINCT_CHARS} distinct characters (low entropy)`;
  }
  return undefined;
}

/** Credential keys whose shipped values are placeholders (deploy/k8s/secret.yaml). */
const CREDENTIAL_KEYS = [
  'REDIS_URL',
  'CACHE_REDIS_URL',
  'DATABASE_URL',
  'CLICKHOUSE_PASSWORD',
  'S3_ACCESS_KEY_ID',
  'S3_SECRET_ACCESS_KEY',
] as const;

/** What production refuses: weak API keys and placeholder credentials, one line each, by name. */
function productionProblems(cfg: z.output<typeof configSchema>): string[] {
  const problems: string[] = [];
  for (const key of cfg.API_KEYS) {
    const reason = weakSecretReason(key.secret);
    if (reason) problems.push(`API_KEYS: key "${key.name}" secret ${reason} (NODE_ENV=production)`);
  }
  for (const name of CREDENTIAL_KEYS) {
    const value = cfg[name];
    if (value !== undefined && PLACEHOLDER.test(value)) {
      problems.push(
        `${name}: holds a placeholder from the shipped examples (CHANGE-ME) (NODE_ENV=production)`,
      );
    }
  }
  return problems;
}

/** `queue=n,queue=n` — per-queue worker concurrency. */
/** `queue=n,queue=n` with each n in min..max, for per-queue overrides. */
function perQueueInt(what: string, min: number, max: number) {
  return z.string().transform((raw, ctx): Partial<Record<QueueName, number>> => {
    const out: Partial<Record<QueueName, number>> = {};
    for (const entry of raw.split(',')) {
      if (entry.trim() === '') continue;
      const [queue, n] = entry.split('=').map((s) => s.trim());
      const value = Number(n);
      if (!(QUEUE_NAMES as readonly string[]).includes(queue ?? '')) {
        ctx.addIssue({ code: 'custom', message: `unknown queue "${queue}"` });
      } else if (!Number.isInteger(value) || value < min || value > max) {
        ctx.addIssue({ code: 'custom', message: `${what} for ${queue} must be ${min}..${max}` });
      } else {
        out[queue as QueueName] = value;
      }
    }
    return out;
  });
}

const concurrency = perQueueInt('concurrency', 1, 1000);

/** An S3 bucket name (lower case, 3..63). */
const bucket = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
    'an S3 bucket name: 3..63 lower-case letters, digits, . -',
  );

/** A cron expression, or `off` to disable the entry (null). */
export const scheduleSchema = z
  .string()
  .trim()
  .refine((v) => v === 'off' || isValidCron(v), {
    message: 'must be a cron expression (5 or 6 fields) or "off"',
  })
  .transform((v) => (v === 'off' ? null : v));

/**
 * The whole environment of every Stowage process. Each key is described; `.env.example`
 * and the README's configuration table list the same keys.
 */
export const configSchema = z.object({
  NODE_ENV: z
    .enum(['development', 'production', 'test'])
    .default('development')
    .describe('Runtime mode.'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('Minimum log level.'),
  LOG_PRETTY: bool
    .default(false)
    .describe('Human-readable logs instead of JSON lines (local runs).'),

  REDIS_URL: url(['redis:', 'rediss:'])
    .default('redis://127.0.0.1:6379')
    .describe('Queue Redis. Must run with maxmemory-policy noeviction and AOF.'),
  CACHE_REDIS_URL: url(['redis:', 'rediss:'])
    .optional()
    .describe('Redis for the hot-IOC cache (eviction allowed). Defaults to REDIS_URL.'),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_{}-]{1,64}$/, 'letters, digits, _ - { } only')
    .default('stowage')
    .describe('Key prefix of every BullMQ queue; use a hash tag ({stowage}) on Redis Cluster.'),

  DATABASE_URL: url(['postgres:', 'postgresql:'])
    .default('postgres://postgres@127.0.0.1:5432/stowage')
    .describe(
      'PostgreSQL: watermarks, staged ingest batches, archive ledger, and the hot store when HOT_STORE=postgres.',
    ),
  DATABASE_POOL_MAX: z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(10)
    .describe(
      'Most PostgreSQL connections one process opens (its pool); GET /v1/stats/pools shows their use.',
    ),
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a plain lower-case identifier')
    .default('stowage')
    .describe('PostgreSQL schema holding Stowage tables (created by stowage init).'),
  CLICKHOUSE_URL: url(['http:', 'https:'])
    .default('http://127.0.0.1:8123')
    .describe('ClickHouse HTTP endpoint (used when HOT_STORE=clickhouse).'),
  CLICKHOUSE_DATABASE: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'must be a plain identifier')
    .default('stowage')
    .describe('ClickHouse database holding the hot store tables.'),
  CLICKHOUSE_USER: z.string().default('default').describe('ClickHouse user.'),
  CLICKHOUSE_PASSWORD: z.string().default('').describe('ClickHouse password.'),
  HOT_STORE: z.enum(HOT_BACKENDS).default('postgres').describe('Backend of the hot IOC store.'),

  HOT_MIN_CONFIDENCE: z.coerce
    .number()
    .min(0)
    .max(1)
    .default(0.7)
    .describe('An IOC at or above this confidence is hot (cached) when also recent.'),
  HOT_MAX_AGE_HOURS: z.coerce
    .number()
    .positive()
    .default(48)
    .describe('An IOC last seen within this many hours is hot (cached) when also confident.'),
  CACHE_TTL_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .default(86_400)
    .describe('Lifetime of a cached IOC in Redis.'),
  CACHE_PROMOTE_LIMIT: z.coerce
    .number()
    .int()
    .positive()
    .default(50_000)
    .describe('Most IOCs one cache.promote run writes to the cache.'),
  INGEST_MAX_IOCS: z.coerce
    .number()
    .int()
    .positive()
    .default(10_000)
    .describe('Most IOCs one ingest request may carry (400 above it).'),
  INGEST_CHUNK_SIZE: z.coerce
    .number()
    .int()
    .min(1)
    .max(5_000)
    .default(1_000)
    .describe('IOCs per iocs.insert job when an ingest request is split.'),
  IDEMPOTENCY_TTL_HOURS: z.coerce
    .number()
    .positive()
    .max(24 * 30)
    .default(24)
    .describe(
      'How long an Idempotency-Key stays bound to its request body and answer (per API key and route), whatever the job retention.',
    ),

  TIMESTAMP_FLOOR: z.iso
    .datetime({
      offset: true,
      error: 'an ISO 8601 timestamp with an offset, e.g. 2000-01-01T00:00:00Z',
    })
    .transform((v) => new Date(v))
    .refine(
      (d) => d.getTime() >= 0,
      'must not be before 1970-01-01T00:00:00Z (ClickHouse DateTime)',
    )
    .prefault('2000-01-01T00:00:00Z')
    .describe(
      'Earliest timestamp any route or job accepts (first_seen, last_seen, watermarks, archive days); earlier ones are a 400 naming the field.',
    ),
  TIMESTAMP_FUTURE_SKEW_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .default(900)
    .describe(
      "How far ahead of the validating process's clock a timestamp may be; later ones are a 400 naming the field. 15 min: above NTP-kept clock drift, below the smallest time zone offset (1 h), so local time sent as UTC is refused.",
    ),

  S3_ENDPOINT: url(['http:', 'https:'])
    .optional()
    .describe('S3 endpoint (MinIO, Ceph RGW); unset means AWS S3.'),
  S3_REGION: z.string().default('us-east-1').describe('S3 region.'),
  S3_ACCESS_KEY_ID: z
    .string()
    .optional()
    .describe('S3 access key id (unset: the SDK default chain).'),
  S3_SECRET_ACCESS_KEY: z.string().optional().describe('S3 secret access key.'),
  S3_FORCE_PATH_STYLE: bool
    .default(true)
    .describe('Path-style bucket addressing (local servers need it).'),

  SPOOL_DIR: z
    .string()
    .min(1)
    .default('.stowage/spool')
    .describe(
      'Directory shared by api and workers where uploads are streamed before their job runs.',
    ),
  SPOOL_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .default(10 * 1024 * 1024 * 1024)
    .describe(
      'Most bytes all spool files together may hold (507 for an upload that would pass it; 0: no limit).',
    ),
  SPOOL_ORPHAN_GRACE_MINUTES: z.coerce
    .number()
    .positive()
    .max(7 * 24 * 60)
    .default(60)
    .describe(
      'Spool files no job references and untouched this long are removed by uploads.abort-stale.',
    ),
  ARTIFACT_BUCKET_SAMPLES: bucket
    .default('stowage-samples')
    .describe('Bucket of log samples (seed 003).'),
  ARTIFACT_BUCKET_TA_BUNDLES: bucket
    .default('stowage-ta-bundles')
    .describe('Bucket of TA bundles (seed 003).'),
  ARTIFACT_BUCKET_DEBUG_BUNDLES: bucket
    .default('stowage-debug-bundles')
    .describe('Bucket of debug bundles (seed 003).'),
  ARTIFACT_MAX_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(500 * 1024 * 1024)
    .describe(
      'Largest artifact accepted (413 above it, enforced while streaming). Seed 003: 500 MB.',
    ),
  UPLOAD_PART_SIZE_BYTES: z.coerce
    .number()
    .int()
    .min(5 * 1024 * 1024)
    .default(8 * 1024 * 1024)
    .describe('Multipart part size (S3 minimum 5 MiB).'),
  UPLOAD_QUEUE_SIZE: z.coerce
    .number()
    .int()
    .min(1)
    .max(32)
    .default(4)
    .describe('Parts of one artifact uploaded at once.'),
  PRESIGN_DEFAULT_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .default(3_600)
    .describe('Lifetime of a presigned download URL when the caller asks for none.'),
  PRESIGN_MAX_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .max(604_800)
    .default(86_400)
    .describe('Longest lifetime a caller may ask for a presigned URL (S3 allows 7 days).'),
  URL_SOURCE_DEADLINE_MS: z.coerce
    .number()
    .int()
    .min(1_000)
    .default(30 * 60 * 1000)
    .describe(
      'Longest a URL source may take to download in full, however steadily it sends (the attempt then fails and is retried).',
    ),
  URL_SOURCE_ALLOWLIST: z
    .string()
    .default('')
    .describe(
      'Hosts an artifact.upload may fetch from (comma-separated, exact or *.suffix); private and loopback addresses only when listed.',
    ),

  ARCHIVE_ENABLED: bool
    .default(true)
    .describe(
      'Archive hot-store windows to S3 Object Lock; retention then deletes only archived windows.',
    ),
  ARCHIVE_BUCKET: bucket
    .default('stowage-archive')
    .describe('Bucket of the WORM archive (must have Object Lock).'),
  ARCHIVE_LOCK_MODE: z
    .enum(['COMPLIANCE', 'GOVERNANCE'])
    .default('COMPLIANCE')
    .describe('Object Lock mode of archive objects (seed 002: COMPLIANCE).'),
  ARCHIVE_RETENTION_YEARS: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(7)
    .describe('Years archive objects stay locked (seed 002: 7).'),
  ARCHIVE_SSE: z
    .enum(['aws:kms', 'AES256', 'none'])
    .default('AES256')
    .describe('Server-side encryption of archive objects; aws:kms uses ARCHIVE_KMS_KEY_ID.'),
  ARCHIVE_KMS_KEY_ID: z.string().optional().describe('KMS key id (BYOK) for ARCHIVE_SSE=aws:kms.'),
  ARCHIVE_PART_ROWS: z.coerce
    .number()
    .int()
    .min(1)
    .max(10_000_000)
    .default(100_000)
    .describe('Rows per gzip NDJSON part of an archive window.'),
  ARCHIVE_TRANSITION_DAYS: z.coerce
    .number()
    .int()
    .min(0)
    .max(36_500)
    .default(30)
    .describe(
      "Days after which `stowage init`'s lifecycle rule moves archive objects to ARCHIVE_STORAGE_CLASS (a transition, never an expiration); 0: no rule.",
    ),
  ARCHIVE_STORAGE_CLASS: z
    .enum([
      'STANDARD_IA',
      'ONEZONE_IA',
      'INTELLIGENT_TIERING',
      'GLACIER_IR',
      'GLACIER',
      'DEEP_ARCHIVE',
    ])
    .default('STANDARD_IA')
    .describe('The colder storage class archive objects move to after ARCHIVE_TRANSITION_DAYS.'),
  ARCHIVE_LOOKUP_MEMO_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .max(3_600)
    .default(60)
    .describe(
      'Seconds an api process keeps an IOC look-up answered from the archive in memory (0: none).',
    ),
  ARCHIVE_LOOKUP_MEMO_ENTRIES: z.coerce
    .number()
    .int()
    .min(0)
    .max(1_000_000)
    .default(10_000)
    .describe('Most archive answers an api process keeps in memory.'),
  HOT_RETENTION_DAYS: z.coerce
    .number()
    .int()
    .min(1)
    .default(90)
    .describe(
      'Hot-store rows last seen longer ago are deleted by retention.cleanup (seed 002: 90).',
    ),
  ACTIVITY_RETENTION_DAYS: z.coerce
    .number()
    .int()
    .min(1)
    .default(90)
    .describe(
      'Activity day partitions older than this are dropped by retention.cleanup, each only once its archive holds exactly its events (while ARCHIVE_ENABLED).',
    ),
  DETECTION_RETENTION_DAYS: z.coerce
    .number()
    .int()
    .min(1)
    .default(90)
    .describe(
      "Terminal detections (not New, Investigating or Escalated) of days older than this are deleted by retention.cleanup, each only once its day's newest archive holds it as it is (while ARCHIVE_ENABLED); open ones are kept.",
    ),
  SAMPLE_RETENTION_ENABLED: bool
    .default(true)
    .describe('Delete log samples past SAMPLE_RETENTION_DAYS.'),
  SAMPLE_RETENTION_DAYS: z.coerce
    .number()
    .int()
    .min(1)
    .default(30)
    .describe(
      'Log samples older than this are deleted (seed 003: 30). TA and debug bundles never are.',
    ),
  RETENTION_BATCH_SIZE: z.coerce
    .number()
    .int()
    .min(100)
    .max(1_000_000)
    .default(10_000)
    .describe('Rows or objects deleted per retention batch.'),
  RETENTION_APPROVAL: z
    .enum(['auto', 'manual'])
    .default('auto')
    .describe(
      "auto: a plain or scheduled retention.cleanup run executes its own stored plan at once; manual: it only plans, and an admin's approval (POST /v1/plans/{id}/approve) enqueues the execution.",
    ),
  RETENTION_PLAN_MAX_AGE_HOURS: z.coerce
    .number()
    .positive()
    .max(8_760)
    .default(72)
    .describe(
      'A retention plan older than this can no longer be approved (it becomes expired): approve what the data still looks like.',
    ),
  UPLOAD_STALE_HOURS: z.coerce
    .number()
    .positive()
    .default(24)
    .describe('Incomplete multipart uploads older than this are aborted by uploads.abort-stale.'),

  API_HOST: z
    .string()
    .default('127.0.0.1')
    .describe(
      "Address the api, the dashboard and a worker's metrics listen on; 0.0.0.0 for every interface (containers set it).",
    ),
  API_PORT: port.default(8080).describe('Port of the api (intake, status, dashboard mount).'),
  API_KEYS: apiKeys
    .default([])
    .describe(
      'API keys: name:secret:scope+scope[:tenant],… Scopes: ingest, artifacts, read, admin. The tenant (a-z, 0-9, _, -) groups keys for fairness, quotas and usage; unset, the key name.',
    ),
  API_BODY_LIMIT: z
    .string()
    .regex(/^\d+(b|kb|mb)$/i, 'a size such as 512kb or 5mb')
    .default('5mb')
    .describe('Largest JSON body the api accepts (413 above it).'),
  API_BODY_BUDGET: z
    .string()
    .regex(/^\d+(b|kb|mb)$/i, 'a size such as 64mb')
    .default('64mb')
    .describe(
      'Most bytes of JSON bodies the api reads or holds at once, over all requests; a body that does not fit is a 503 (Retry-After: 1).',
    ),
  API_BODY_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(1_000)
    .default(30_000)
    .describe(
      'A request body (JSON or upload) that stalls this long, or trickles slower than 1 KiB/s, is cut off with a 408; also the limit for sending the headers.',
    ),
  API_MAX_CONNECTIONS: z.coerce
    .number()
    .int()
    .min(1)
    .default(2_048)
    .describe(
      'Most connections the api (or dashboard) holds open at once; one more is closed on accept. Keep it well below the open-file limit.',
    ),
  API_MAX_CONNECTIONS_PER_IP: z.coerce
    .number()
    .int()
    .min(0)
    .default(256)
    .describe(
      'Most connections one client address holds open at once; one more is answered 503 and closed. 0 turns the cap off (behind a proxy every client has its address).',
    ),
  WATERMARK_OPEN_CIDRS: z
    .string()
    .transform((raw, ctx): NetworkCidr[] => {
      const { cidrs, problems } = parseCidrList(raw);
      for (const message of problems) ctx.addIssue({ code: 'custom', message });
      return cidrs;
    })
    .default([])
    .describe(
      "Networks (IPv4/IPv6 CIDRs, comma-separated) whose clients may call GET/PUT /api/v1/watermarks/{source_id} and GET /status without an API key (seed 001's client). Empty: off. Matched on the socket address.",
    ),
  TENANT_QUOTAS: z
    .string()
    .transform((raw, ctx): TenantQuotas => {
      const { quotas, problems } = parseTenantQuotas(raw);
      for (const message of problems) ctx.addIssue({ code: 'custom', message });
      return quotas;
    })
    .default({ tenants: {} })
    .describe(
      'Per-tenant quotas, answered 429 with Retry-After: tenant=limit:value,… separated by ; (e.g. acme=rps:50,bytes_day:10gb,queued:5000;*=rps:200). Limits: rps (requests a second, token bucket; burst:N allows N at once, default rps), bytes_day (ingest and artifact bytes a UTC day), queued (jobs enqueued and not finished). * applies to every tenant not named. Empty: no quotas.',
    ),
  REDIS_MEMORY_CEILING: z
    .string()
    .transform((raw, ctx): MemoryCeiling | null => {
      if (raw.trim() === 'off') return null;
      const ceiling = parseMemoryCeiling(raw);
      if (!ceiling)
        ctx.addIssue({ code: 'custom', message: 'a percentage (90%), a size (512mb) or off' });
      return ceiling ?? null;
    })
    .prefault('90%')
    .describe(
      "Enqueueing requests are answered 503 with Retry-After once the queue Redis's used_memory passes this: a size (512mb) or a percentage of its maxmemory (no ceiling when maxmemory is 0); off: none. Read from INFO at most once a second.",
    ),
  API_PUBLIC_URL: url(['http:', 'https:'])
    .optional()
    .describe('Base URL printed for users; defaults to http://localhost:API_PORT.'),

  DASHBOARD_PORT: port.default(8081).describe('Port of the standalone dashboard process.'),
  DASHBOARD_PATH: z
    .string()
    .regex(/^\/[A-Za-z0-9/_-]*$/, 'an absolute path')
    .default('/admin/queues')
    .describe('Path Bull Board is mounted at.'),
  DASHBOARD_PUBLIC_URL: url(['http:', 'https:'])
    .optional()
    .describe(
      'Scheme, host and port people reach the dashboard at (no path). Job status answers an absolute dashboard_url with it, else with API_PUBLIC_URL, else a path under DASHBOARD_PATH.',
    ),

  WORKER_QUEUES: z
    .string()
    .default(QUEUE_NAMES.join(','))
    .describe('Queues this worker serves (comma-separated).'),
  FAIR_QUEUES: z
    .string()
    .default('ingest,artifacts')
    .describe(
      "Queues dequeued fairly across tenants (comma-separated, or none): a job's priority is its tenant's virtual start tag (docs/FAIRNESS.md).",
    ),
  WORKER_CONCURRENCY: concurrency
    .default({})
    .describe('Per-queue concurrency overrides: ingest=8,artifacts=2.'),
  JOBS_KEEP_COMPLETED: perQueueInt('completed jobs kept', 0, 1_000_000)
    .default({})
    .describe(
      'Per-queue count of completed jobs kept (each at most a day) for status and the dashboard, e.g. ingest=1000. Unset: 10,000 a queue. A completed job keeps its payload: an iocs.insert of 1,000 IOCs holds about 220 KiB of Redis.',
    ),
  WORKER_LOCK_MS: z.coerce
    .number()
    .int()
    .min(1_000)
    .optional()
    .describe(
      "Overrides every queue's job lock (ms): how soon a job of a crashed worker runs again. Unset: per-queue defaults (60 s to 5 min).",
    ),
  WORKER_METRICS_PORT: z.coerce
    .number()
    .int()
    .min(0)
    .max(65535)
    .default(9464)
    .describe(
      "Port of a worker's /metrics and /health listener (on API_HOST); 0 takes a free port (logged).",
    ),
  SHUTDOWN_GRACE_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(30_000)
    .describe('How long SIGTERM waits for in-flight jobs before closing anyway.'),
  SCHEDULER_CATCHUP_MAX: z.coerce
    .number()
    .int()
    .min(0)
    .max(100)
    .default(3)
    .describe(
      'Ticks a scheduler runs per schedule at start for the time no scheduler ran: the newest this many missed ticks, oldest first (older ones are skipped); 0 turns catch-up off.',
    ),
  JOB_ABORT_GRACE_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(600_000)
    .default(5_000)
    .describe(
      'How long a job past its maximum duration, or cancelled, may take to wind down (abort its upload) before its attempt ends without it and its worker slot is freed.',
    ),
  JOB_TIMEOUT_MAX_MS: z.coerce
    .number()
    .int()
    .min(1_000)
    .max(7 * 24 * 60 * 60_000)
    .default(24 * 60 * 60_000)
    .describe(
      'The longest maximum duration a caller may give one job (header X-Job-Timeout-Ms of POST /v1/jobs/{type}); each job type declares its own default.',
    ),
});

type Env = z.output<typeof configSchema>;

/**
 * Every `SCHEDULE_<KEY>` variable starts with this. The keys are not in the schema: each
 * scheduled job's definition declares its own (jobs/job-schedules.ts resolves them).
 */
export const SCHEDULE_ENV_PREFIX = 'SCHEDULE_';

/** The validated configuration every process is built from. */
export interface Config extends Env {
  /**
   * Each `SCHEDULE_<KEY>` set in the environment, by KEY: a validated cron expression, or
   * null for `off`. Unset keys are absent (the job definition's default applies).
   */
  schedules: Readonly<Record<string, string | null>>;
  workerQueues: QueueName[];
  /** FAIR_QUEUES parsed: the queues whose jobs carry their tenant's fair priority. */
  fairQueues: QueueName[];
  cacheRedisUrl: string;
  publicUrl: string;
}

/** Raised with every configuration problem at once, one per line. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** The environment keys the schema knows (docker-compose and .env.example are checked against them). */
export const CONFIG_KEYS = Object.keys(configSchema.shape) as (keyof Env)[];

/** Validates an environment; pure, reports every problem at once. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const input: Record<string, string> = {};
  for (const key of CONFIG_KEYS) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = configSchema.safeParse(input);
  const schedules = collectSchedules(env);
  const problems = [
    ...(parsed.success
      ? []
      : parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)),
    ...schedules.problems,
  ];
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);

  const cfg = parsed.data;
  if (cfg.NODE_ENV === 'production') {
    const refused = productionProblems(cfg);
    if (refused.length > 0) throw new ConfigError(refused);
  }
  const queues = cfg.WORKER_QUEUES.split(',')
    .map((q) => q.trim())
    .filter(Boolean);
  const unknown = queues.filter((q) => !(QUEUE_NAMES as readonly string[]).includes(q));
  if (unknown.length > 0 || queues.length === 0) {
    throw new ConfigError([
      `WORKER_QUEUES: unknown queue(s) ${unknown.join(', ') || '(none given)'} (known: ${QUEUE_NAMES.join(', ')})`,
    ]);
  }
  const fairQueues = parseFairQueues(cfg.FAIR_QUEUES);
  if (typeof fairQueues === 'string') throw new ConfigError([fairQueues]);
  return {
    ...cfg,
    schedules: schedules.values,
    workerQueues: queues as QueueName[],
    fairQueues,
    cacheRedisUrl: cfg.CACHE_REDIS_URL ?? cfg.REDIS_URL,
    publicUrl: cfg.API_PUBLIC_URL ?? `http://localhost:${cfg.API_PORT}`,
  };
}

/** Every non-empty `SCHEDULE_<KEY>` of an environment, validated; problems name the variable. */
function collectSchedules(env: Record<string, string | undefined>): {
  values: Record<string, string | null>;
  problems: string[];
} {
  const values: Record<string, string | null> = {};
  const problems: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(SCHEDULE_ENV_PREFIX) || value === undefined || value === '') continue;
    const parsed = scheduleSchema.safeParse(value);
    if (parsed.success) values[name.slice(SCHEDULE_ENV_PREFIX.length)] = parsed.data;
    else problems.push(...parsed.error.issues.map((i) => `${name}: ${i.message}`));
  }
  return { values, problems };
}

/** FAIR_QUEUES as queue names (`none`: no queue), or the problem with it. */
function parseFairQueues(raw: string): QueueName[] | string {
  if (raw.trim() === 'none') return [];
  const names = raw
    .split(',')
    .map((q) => q.trim())
    .filter(Boolean);
  const unknown = names.filter((q) => !(QUEUE_NAMES as readonly string[]).includes(q));
  if (unknown.length > 0) {
    return `FAIR_QUEUES: unknown queue(s) ${unknown.join(', ')} (known: ${QUEUE_NAMES.join(', ')}, or none)`;
  }
  return [...new Set(names)] as QueueName[];
}
