/** What one tenant may do (TENANT_QUOTAS); an absent field is no limit. */
export interface TenantQuota {
  /** Requests a second, refilled continuously (a token bucket). */
  rps?: number;
  /** Requests that may come at once after a quiet spell; rps by default (one second's worth). */
  burst?: number;
  /** Bytes of ingest and artifact bodies accepted per UTC day. */
  bytesPerDay?: number;
  /** Jobs of the tenant enqueued and not yet finished. */
  queued?: number;
}

/** TENANT_QUOTAS parsed: named tenants, and `*` for every tenant not named. */
export interface TenantQuotas {
  tenants: Readonly<Record<string, TenantQuota>>;
  fallback?: TenantQuota;
}

/** The quota of a tenant: its own entry, else the `*` entry, else none. */
export function quotaOf(quotas: TenantQuotas, tenant: string): TenantQuota | undefined {
  return Object.hasOwn(quotas.tenants, tenant) ? quotas.tenants[tenant] : quotas.fallback;
}

const SIZE = /^(\d+(?:\.\d+)?)(b|kb|mb|gb|tb)?$/i;
const UNITS: Record<string, number> = {
  b: 1,
  kb: 1024,
  mb: 1024 ** 2,
  gb: 1024 ** 3,
  tb: 1024 ** 4,
};

/** `10gb`, `512mb`, `1000` (bytes) as a byte count; undefined when not a size. */
export function parseByteSize(text: string): number | undefined {
  const match = SIZE.exec(text.trim());
  if (!match) return undefined;
  const bytes = Math.floor(Number(match[1]) * (UNITS[(match[2] ?? 'b').toLowerCase()] ?? 1));
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

const TENANT = /^([a-z0-9][a-z0-9_-]{0,62}|\*)$/;

/**
 * Parses `acme=rps:50,bytes_day:10gb,queued:5000;*=rps:200`: tenants separated by `;`, each
 * `tenant=limit:value,…` with limits rps, burst, bytes_day, queued. Every problem is named.
 */
export function parseTenantQuotas(raw: string): { quotas: TenantQuotas; problems: string[] } {
  const tenants: Record<string, TenantQuota> = {};
  let fallback: TenantQuota | undefined;
  const problems: string[] = [];
  for (const entry of raw.split(';').map((e) => e.trim())) {
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    const tenant = eq < 0 ? '' : entry.slice(0, eq).trim();
    if (!TENANT.test(tenant)) {
      problems.push(`"${entry}" must be tenant=limit:value,… (tenant a-z, 0-9, _, - or *)`);
      continue;
    }
    if (tenant === '*' ? fallback !== undefined : Object.hasOwn(tenants, tenant)) {
      problems.push(`tenant "${tenant}" is listed twice`);
      continue;
    }
    const quota: TenantQuota = {};
    for (const limit of entry
      .slice(eq + 1)
      .split(',')
      .map((l) => l.trim())) {
      if (limit === '') continue;
      const [name, value = ''] = limit.split(':').map((s) => s.trim());
      const count = /^\d+$/.test(value) ? Number(value) : NaN;
      const positive = Number.isSafeInteger(count) && count > 0;
      if (name === 'rps' && positive) quota.rps = count;
      else if (name === 'burst' && positive) quota.burst = count;
      else if (name === 'queued' && positive) quota.queued = count;
      else if (name === 'bytes_day' && parseByteSize(value) !== undefined) {
        quota.bytesPerDay = parseByteSize(value)!;
      } else {
        problems.push(
          `tenant "${tenant}": "${limit}" must be rps:N, burst:N, queued:N (N > 0) or bytes_day:SIZE (e.g. 10gb)`,
        );
      }
    }
    if (tenant === '*') fallback = quota;
    else tenants[tenant] = quota;
  }
  return { quotas: { tenants, ...(fallback ? { fallback } : {}) }, problems };
}

/** REDIS_MEMORY_CEILING parsed: a byte count, or a share of the server's maxmemory. */
export type MemoryCeiling = { bytes: number } | { percent: number };

/** `80%` or `512mb`; undefined when neither. */
export function parseMemoryCeiling(raw: string): MemoryCeiling | undefined {
  const text = raw.trim();
  const percent = /^(\d{1,3}(?:\.\d+)?)%$/.exec(text);
  if (percent) {
    const value = Number(percent[1]);
    return value > 0 && value <= 100 ? { percent: value } : undefined;
  }
  const bytes = parseByteSize(text);
  return bytes === undefined ? undefined : { bytes };
}

/**
 * The metric label of a tenant: its name when configured (API_KEYS, TENANT_QUOTAS), else
 * `other`, so a job carrying an unknown tenant cannot grow the label set.
 */
export function tenantLabeller(known: Iterable<string>): (tenant: string | undefined) => string {
  const names = new Set(known);
  return (tenant) => (tenant !== undefined && names.has(tenant) ? tenant : 'other');
}
