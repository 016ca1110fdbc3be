import type { Request, RequestHandler, Response } from 'express';
import { quotaOf, type TenantQuotas } from '../domain/tenant-quota.js';
import { UTC_DAY_MS } from '../domain/utc-day.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { sendProblem } from '../http/problem.js';
import { closeUnreadBody } from '../http/unread-body.js';
import type { RedisMemoryGauge } from '../stores/redis/memory-gauge.js';
import type { QueuedJobRef, RedisQuotaStore } from '../stores/redis/quota-store.js';
import type { RedisUsageStore } from '../stores/redis/usage-store.js';

/** What the gate reads and writes. */
export interface QuotaGateOptions {
  quotas: TenantQuotas;
  store: RedisQuotaStore;
  usage: RedisUsageStore;
  /** The queue Redis's memory against REDIS_MEMORY_CEILING; undefined: no ceiling. */
  memory: RedisMemoryGauge | undefined;
  metrics: Metrics;
  log: Logger;
}

/** How soon a tenant at its queued-jobs limit is counted again (a sweep of its ledger). */
const SWEEP_EVERY_MS = 2_000;
/** What a tenant at its queued-jobs limit is told to wait: about one sweep. */
const QUEUED_RETRY_AFTER_S = 5;
/** What an enqueue refused at the memory ceiling is told to wait: workers drain the queues. */
const CEILING_RETRY_AFTER_S = 5;

/** Methods that bring work: they are what the memory ceiling, bytes and queued quotas stop. */
function enqueues(req: Request): boolean {
  return req.method === 'POST' || req.method === 'PUT';
}

/**
 * The per-tenant quotas (TENANT_QUOTAS) and the queue Redis's memory ceiling, checked after
 * authentication and before any body byte is read (a refused body is never read):
 * - requests a second: a token bucket per tenant in Redis (one Lua call), for every request;
 * - for requests that bring work (POST, PUT): the memory ceiling (503), the tenant's bytes
 *   of the UTC day so far plus this request's declared length (429), and its queued jobs (429).
 * Each refusal is a problem document naming the quota and its limit, with Retry-After.
 * Answered bodies of work are counted to the tenant's bytes once answered 2xx.
 */
export class QuotaGate {
  /** When each tenant's queued ledger was last swept, and what was left. */
  private readonly swept = new Map<string, { at: number; count: number }>();

  constructor(private readonly options: QuotaGateOptions) {}

  /** The middleware; mount it after authentication and scope checks, before any body parser. */
  middleware(): RequestHandler {
    return (req, res, next) => {
      this.check(req, res).then(
        (refused) => {
          if (!refused) next();
        },
        (err: unknown) => next(err),
      );
    };
  }

  /**
   * Accounts the jobs a tenant's request enqueued: usage (jobs enqueued), and the queued
   * ledger when the tenant has a queued quota. Best effort: a failure is logged, as the jobs
   * are enqueued already (the ledger then undercounts by those jobs, until they finish).
   */
  async enqueued(tenant: string, jobs: readonly QueuedJobRef[]): Promise<void> {
    if (jobs.length === 0) return;
    const { store, usage, metrics, log } = this.options;
    try {
      const pending: Promise<unknown>[] = [usage.add(tenant, { jobs_enqueued: jobs.length })];
      if (quotaOf(this.options.quotas, tenant)?.queued !== undefined) {
        pending.push(store.trackQueued(tenant, jobs));
      }
      await Promise.all(pending);
      metrics.tenantUsage(tenant, { jobs_enqueued: jobs.length });
    } catch (err) {
      log.warn({ err, tenant, jobs: jobs.length }, 'could not account enqueued jobs to the tenant');
    }
  }

  /** Answers a refusal and returns true, or returns false to let the request through. */
  private async check(req: Request, res: Response): Promise<boolean> {
    const caller = res.locals.caller;
    const work = enqueues(req);
    if (work && this.options.memory) {
      const reading = await this.options.memory.reading();
      if (reading?.over) {
        this.options.metrics.quotaRefused(caller?.tenant, 'redis_memory');
        refuse(req, res, 503, 'redis_memory_ceiling', CEILING_RETRY_AFTER_S, {
          detail: `the queue Redis uses ${reading.usedBytes} bytes, past REDIS_MEMORY_CEILING (${reading.ceilingBytes} bytes of maxmemory ${reading.maxBytes}); retry once workers have drained the queues`,
        });
        return true;
      }
    }
    // Keyless callers (WATERMARK_OPEN_CIDRS) belong to no tenant.
    if (!caller) return false;
    const tenant = caller.tenant;
    const quota = quotaOf(this.options.quotas, tenant);
    if (!quota) {
      if (work) this.countBytes(req, res, tenant);
      return false;
    }
    const { store, usage, metrics } = this.options;
    if (quota.rps !== undefined) {
      const taken = await store.takeToken(tenant, quota.rps, quota.burst ?? quota.rps);
      if (!taken.allowed) {
        metrics.quotaRefused(tenant, 'rps');
        refuse(req, res, 429, 'quota_exceeded', Math.ceil(taken.retryAfterMs / 1000), {
          detail: `tenant "${tenant}" is over its rps quota: ${quota.rps} requests a second (burst ${quota.burst ?? quota.rps})`,
          quota: 'rps',
          limit: quota.rps,
        });
        return true;
      }
    }
    if (!work) return false;
    if (quota.bytesPerDay !== undefined) {
      const used = await usage.read(tenant, 'bytes');
      const declared = Number(req.headers['content-length'] ?? 0) || 0;
      if (used >= quota.bytesPerDay || used + declared > quota.bytesPerDay) {
        metrics.quotaRefused(tenant, 'bytes_day');
        const now = Date.now();
        const untilMidnight = Math.ceil((UTC_DAY_MS - (now % UTC_DAY_MS)) / 1000);
        refuse(req, res, 429, 'quota_exceeded', untilMidnight, {
          detail: `tenant "${tenant}" is over its bytes_day quota: ${quota.bytesPerDay} bytes a UTC day, ${used} used${declared > 0 ? `, this request declares ${declared}` : ''}`,
          quota: 'bytes_day',
          limit: quota.bytesPerDay,
        });
        return true;
      }
    }
    if (quota.queued !== undefined) {
      const queued = await this.queuedCount(tenant, quota.queued);
      if (queued >= quota.queued) {
        metrics.quotaRefused(tenant, 'queued');
        refuse(req, res, 429, 'quota_exceeded', QUEUED_RETRY_AFTER_S, {
          detail: `tenant "${tenant}" is over its queued quota: ${quota.queued} jobs enqueued and not finished, ${queued} now`,
          quota: 'queued',
          limit: quota.queued,
        });
        return true;
      }
    }
    this.countBytes(req, res, tenant);
    return false;
  }

  /**
   * The tenant's unfinished jobs: the ledger's size, and at the limit a sweep (at most every
   * SWEEP_EVERY_MS per tenant and process) so jobs that ended since stop counting.
   */
  private async queuedCount(tenant: string, limit: number): Promise<number> {
    const count = await this.options.store.queuedCount(tenant);
    if (count < limit) return count;
    const last = this.swept.get(tenant);
    if (last && Date.now() - last.at < SWEEP_EVERY_MS) return Math.min(count, last.count);
    const left = await this.options.store.sweep(tenant);
    this.swept.set(tenant, { at: Date.now(), count: left });
    return left;
  }

  /** Once the request is answered 2xx, adds its body's bytes to the tenant's day. */
  private countBytes(req: Request, res: Response, tenant: string): void {
    const socketStart = req.socket.bytesRead;
    res.once('finish', () => {
      if (res.statusCode < 200 || res.statusCode >= 300) return;
      const declared = Number(req.headers['content-length']);
      // A chunked body declares no length: what the socket read for it (headers included).
      const bytes = Number.isFinite(declared) ? declared : req.socket.bytesRead - socketStart;
      if (!(bytes > 0)) return;
      this.options.metrics.tenantUsage(tenant, { bytes });
      this.options.usage.add(tenant, { bytes }).catch((err: unknown) => {
        this.options.log.warn({ err, tenant, bytes }, 'could not account bytes to the tenant');
      });
    });
  }
}

function refuse(
  req: Request,
  res: Response,
  status: 429 | 503,
  code: 'quota_exceeded' | 'redis_memory_ceiling',
  retryAfterSeconds: number,
  problem: { detail: string; quota?: string; limit?: number },
): void {
  closeUnreadBody(req, res);
  res.setHeader('Retry-After', String(Math.max(1, retryAfterSeconds)));
  sendProblem(res, { status, code, ...problem });
}
