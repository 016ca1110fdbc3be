// Per-tenant quotas (TENANT_QUOTAS): requests a second, bytes a UTC day and queued jobs,
// each answered 429 with Retry-After and a problem naming the quota and its limit, while
// other tenants go on; usage per tenant (GET /v1/usage, metrics) from the api and a worker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountTenantUsage } from '../../workers/tenant-usage.js';
import { tenantLabeller } from '../../src/domain/tenant-quota.js';
import { StowageClient } from '../../src/sdk/index.js';
import { StowageApiError } from '../../src/sdk/index.js';
import { TestWorld, eventually } from '../helpers/world.js';

const KEYS = {
  burst: 'burst-secret-0123456789abcdef',
  calm: 'calm-secret-0123456789abcdef',
  bytes: 'bytes-secret-0123456789abcdef',
  queued: 'queued-secret-0123456789abcdef',
  admin: 'quota-admin-0123456789abcdef',
};

const QUOTAS = 'burst=rps:1,burst:3;bytesco=bytes_day:2kb;queuedco=queued:3;*=rps:1000';

interface ProblemBody {
  code: string;
  detail: string;
  quota?: string;
  limit?: number;
}

describe('tenant quotas', () => {
  let world: TestWorld;
  let base: string;

  const call = (key: string, method: string, path: string, body?: unknown) =>
    fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const echo = (key: string, value: string) => call(key, 'POST', '/v1/jobs/test.echo', { value });

  beforeAll(async () => {
    world = new TestWorld({
      API_KEYS: [
        `burst-key:${KEYS.burst}:ingest+read:burst`,
        `calm-key:${KEYS.calm}:ingest+read:calm`,
        `bytes-key:${KEYS.bytes}:ingest+read:bytesco`,
        `queued-key:${KEYS.queued}:ingest+read:queuedco`,
        `admin:${KEYS.admin}:admin`,
      ].join(','),
      TENANT_QUOTAS: QUOTAS,
    });
    base = await world.startApi();
  });
  afterAll(async () => {
    const keys = [
      ...(await world.deps.redis.keys(`${world.config.QUEUE_PREFIX}:quota:*`)),
      ...(await world.deps.redis.keys(`${world.config.QUEUE_PREFIX}:usage:*`)),
    ];
    if (keys.length > 0) await world.deps.redis.del(...keys);
    await world?.close();
  });

  it('answers a tenant past its requests a second 429 with Retry-After, and not another tenant', async () => {
    const statuses: number[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < 30 && !refused; i++) {
      const res = await call(KEYS.burst, 'GET', '/v1/usage');
      statuses.push(res.status);
      if (res.status === 429) refused = res;
      else await res.arrayBuffer();
    }
    expect(refused, `statuses ${statuses.join(',')}`).toBeDefined();
    // The burst (3) passes before any refusal.
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused!.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const problem = (await refused!.json()) as ProblemBody;
    expect(problem).toMatchObject({ code: 'quota_exceeded', quota: 'rps', limit: 1 });
    expect(problem.detail).toContain('"burst"');
    expect(problem.detail).toContain('rps quota: 1 requests a second');

    // Another tenant, at the same moment, is unaffected.
    for (let i = 0; i < 5; i++) {
      const res = await call(KEYS.calm, 'GET', '/v1/usage');
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
  });

  it('refuses a tenant past its bytes a day before reading the body, and accounts what it accepted', async () => {
    let accepted = 0;
    let refused: Response | undefined;
    for (let i = 0; i < 60 && !refused; i++) {
      const body = { value: `bytes-${i}-${'x'.repeat(60)}` };
      const res = await echo(KEYS.bytes, body.value);
      if (res.status === 429) refused = res;
      else {
        expect(res.status).toBe(202);
        accepted += Buffer.byteLength(JSON.stringify(body));
        await res.arrayBuffer();
      }
    }
    expect(refused).toBeDefined();
    expect(accepted).toBeGreaterThan(1_000);
    expect(accepted).toBeLessThanOrEqual(2_048);
    const retryAfter = Number(refused!.headers.get('retry-after'));
    // Until the next UTC midnight.
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(86_400);
    const problem = (await refused!.json()) as ProblemBody;
    expect(problem).toMatchObject({ code: 'quota_exceeded', quota: 'bytes_day', limit: 2_048 });

    // The day's usage holds exactly the accepted bodies' bytes.
    const usage = await new StowageClient({ baseUrl: base, apiKey: KEYS.admin }).usage({
      days: 1,
      tenant: 'bytesco',
    });
    expect(usage.days[0]?.tenants.bytesco?.bytes).toBe(accepted);

    // Another tenant still enqueues.
    const other = await echo(KEYS.calm, 'calm-bytes');
    expect(other.status).toBe(202);
  });

  it('refuses a tenant at its queued jobs until its jobs finish, and counts them in its usage', async () => {
    for (const value of ['q1', 'q2', 'q3']) {
      const res = await echo(KEYS.queued, value);
      expect(res.status).toBe(202);
      await res.arrayBuffer();
    }
    const refused = await echo(KEYS.queued, 'q4');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await refused.json()).toMatchObject({
      code: 'quota_exceeded',
      quota: 'queued',
      limit: 3,
    });
    // Other tenants are not held by it.
    expect((await echo(KEYS.calm, 'calm-queued')).status).toBe(202);

    // A worker finishes the three; the tenant may enqueue again (its ledger is swept).
    const host = await world.startWorker(['ingest']);
    for (const worker of host.workers) {
      accountTenantUsage(worker, {
        usage: world.deps.usage,
        metrics: world.deps.metrics,
        label: tenantLabeller(['queuedco', 'calm']),
        log: world.deps.log,
      });
    }
    const again = await eventually(
      async () => {
        const res = await echo(KEYS.queued, 'q4');
        await res.arrayBuffer();
        return res.status === 202 ? res : undefined;
      },
      30_000,
      'the queued tenant enqueues again',
    );
    expect(again.status).toBe(202);

    const own = new StowageClient({ baseUrl: base, apiKey: KEYS.queued });
    const usage = await eventually(
      async () => {
        const report = await own.usage({ days: 2 });
        return report.days[0]?.tenants.queuedco?.jobs_completed === 4 ? report : undefined;
      },
      30_000,
      'four completed jobs in the usage',
    );
    // A key sees its own tenant only.
    expect(Object.keys(usage.days[0]!.tenants)).toEqual(['queuedco']);
    expect(usage.days[0]!.tenants.queuedco).toMatchObject({ jobs_enqueued: 4, jobs_failed: 0 });
    expect(usage.days).toHaveLength(2);
    // Another tenant's usage needs admin; an admin sees every tenant.
    await expect(own.usage({ tenant: 'calm' })).rejects.toBeInstanceOf(StowageApiError);
    const all = await new StowageClient({ baseUrl: base, apiKey: KEYS.admin }).usage({ days: 1 });
    expect(Object.keys(all.days[0]!.tenants)).toEqual(
      expect.arrayContaining(['bytesco', 'calm', 'queuedco']),
    );

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(
      /stowage_tenant_jobs_total\{[^}]*tenant="queuedco"[^}]*event="enqueued"[^}]*\} 4/,
    );
    expect(metrics).toMatch(
      /stowage_quota_refusals_total\{[^}]*tenant="queuedco"[^}]*quota="queued"[^}]*\} [1-9]/,
    );
  });
});
