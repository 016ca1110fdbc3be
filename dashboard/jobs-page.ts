import { sameOrigin } from './same-origin.js';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { ApiKey } from '../src/config.js';
import { jobSearchQuerySchema } from '../src/domain/api/job-search.js';
import { jobStateSchema } from '../src/domain/api/jobs.js';
import { ForbiddenError } from '../src/errors/index.js';
import { authenticate, hasScope } from '../src/http/auth.js';
import type { JobSearchIndex } from '../src/stores/redis/job-search-index.js';
import type { JobRegistry } from '../jobs/job-registry.js';
import type { QueueSet } from '../queues/queue-set.js';
import { cancelJob } from '../queues/use-cases/cancel-job.js';
import type { JobDescription } from '../queues/use-cases/find-job.js';
import { listJobs } from '../queues/use-cases/list-jobs.js';
import { escapeHtml, pageHtml } from './page-html.js';

/** What the job search page reads and acts on. */
export interface JobsPageOptions {
  basePath: string;
  keys: readonly ApiKey[];
  queues: QueueSet;
  registry: JobRegistry;
  /** The job search index (the producer's, or one over the queue Redis: it only reads). */
  search: JobSearchIndex;
  /** The queue Redis a cancel marks and announces on (queues/use-cases/cancel-job.ts). */
  redis: Parameters<typeof cancelJob>[0]['redis'];
  /** A job's page on Bull Board (queues/dashboard-link.ts). */
  dashboardLink: (queue: string, id: string) => string;
}

/** The form's fields, in the order shown; `cursor` and `limit` ride in the links only. */
const FIELDS = ['tenant', 'tag', 'type', 'state', 'since'] as const;
const QUERY_KEYS = new Set<string>([...FIELDS, 'cursor', 'limit']);
const STATES = jobStateSchema.options.filter((s) => s !== 'unknown');
/** States a cancel acts on: not started (removed) or running (aborted). */
const CANCELLABLE = new Set(['waiting', 'delayed', 'prioritized', 'waiting-children', 'active']);

/**
 * `<DASHBOARD_PATH>/jobs`: the job search (GET /v1/jobs) as a form and a table, newest first,
 * a page at a time, each job linked to its page on the board. Behind the board's auth: a read
 * key sees only its tenant's jobs, as the API holds it; an admin sees every job and gets a
 * Cancel button on each job that has not finished, posting to this page's own route (which
 * checks the form came from this site).
 */
export function jobsPage(options: JobsPageOptions): Router {
  const base = `${options.basePath}/jobs`;
  const router = Router();
  const auth = authenticate(options.keys, { basicRealm: 'Stowage dashboard' });
  const readable = (_req: Request, res: Response, next: NextFunction) => {
    if (hasScope(res.locals.caller, 'read')) next();
    else next(new ForbiddenError('the dashboard needs the "read" or "admin" scope'));
  };
  const admin = (req: Request, res: Response, next: NextFunction) => {
    if (!hasScope(res.locals.caller, 'admin')) {
      next(new ForbiddenError('cancelling a job needs the "admin" scope'));
    } else if (!sameOrigin(req)) next(new ForbiddenError('a form from another site'));
    else next();
  };

  router.get(base, auth, readable, async (req, res, next) => {
    try {
      const caller = res.locals.caller;
      const isAdmin = hasScope(caller, 'admin');
      // An empty form field means "any"; a repeated one is kept as an array, so the strict
      // schema names it rather than one value being picked silently.
      const raw: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(req.query)) if (v !== '') raw[k] = v;
      const parsed = jobSearchQuerySchema.safeParse(raw);
      const shown = (f: string) => (typeof raw[f] === 'string' ? raw[f] : '');
      const form = searchForm(base, shown, isAdmin ? undefined : caller?.tenant);
      const back = `<p><a href="${escapeHtml(options.basePath)}">Queues</a></p>`;
      if (!parsed.success) {
        const problems = parsed.error.issues
          .map((i) => {
            const keys = i.code === 'unrecognized_keys' ? ` (${i.keys.join(', ')})` : '';
            return `<li>${escapeHtml(i.path.join('.') || 'query')}: ${escapeHtml(i.message + keys)}</li>`;
          })
          .join('');
        res
          .status(400)
          .type('html')
          .send(pageHtml('Stowage jobs', `${back}\n${form}\n<ul class="errors">${problems}</ul>`));
        return;
      }
      const q = parsed.data;
      const page = await listJobs(
        { queues: options.queues, search: options.search, dashboardLink: options.dashboardLink },
        {
          type: q.type,
          state: q.state,
          tenant: q.tenant,
          tag: q.tag,
          since: q.since,
          cursor: q.cursor,
          limit: q.limit,
        },
        { tenant: caller?.tenant, admin: isAdmin },
      );
      const returnTo = req.originalUrl;
      const rows = page.jobs.map((job) => jobRow(job, base, isAdmin, returnTo)).join('\n');
      const kept = Object.fromEntries(
        Object.entries(raw).filter(
          (e): e is [string, string] =>
            QUERY_KEYS.has(e[0]) && e[0] !== 'cursor' && typeof e[1] === 'string',
        ),
      );
      const nextLink =
        page.next_cursor === null
          ? ''
          : `<p><a href="${escapeHtml(`${base}?${new URLSearchParams({ ...kept, cursor: page.next_cursor }).toString()}`)}">Next page</a></p>`;
      const body = `${back}
${form}
<table><thead><tr><th>ID</th><th>Type</th><th>Queue</th><th>State</th><th>Tenant</th><th>Enqueued by</th><th>Tags</th><th>Created</th><th></th></tr></thead>
<tbody>
${rows || '<tr><td colspan="9">No jobs match.</td></tr>'}
</tbody></table>
${nextLink}`;
      res.type('html').send(pageHtml('Stowage jobs', body));
    } catch (err) {
      next(err);
    }
  });

  router.post(
    `${base}/:id/cancel`,
    auth,
    admin,
    express.urlencoded({ extended: false, limit: '4kb' }),
    async (req, res, next) => {
      try {
        await cancelJob(
          { registry: options.registry, queues: options.queues, redis: options.redis },
          { id: String(req.params.id), by: res.locals.caller?.name ?? 'dashboard' },
        );
        // Back to the search the button was on; only a path of this page, never elsewhere.
        const asked = (req.body as Record<string, unknown>).return_to;
        const returnTo =
          typeof asked === 'string' && (asked === base || asked.startsWith(`${base}?`))
            ? asked
            : base;
        res.redirect(303, returnTo);
      } catch (err) {
        next(err);
      }
    },
  );
  return router;
}

/** The search form, filled with what was asked; a read key's tenant is fixed and said so. */
function searchForm(base: string, shown: (field: string) => string, tenant?: string): string {
  const inputs = FIELDS.map((f) => {
    if (f === 'state') {
      const options = ['', ...STATES]
        .map(
          (s) =>
            `<option value="${escapeHtml(s)}"${s === shown(f) ? ' selected' : ''}>${escapeHtml(s || 'any')}</option>`,
        )
        .join('');
      return `<label>state <select name="state">${options}</select></label>`;
    }
    const hint =
      f === 'tag'
        ? ' placeholder="source:otx, request:…, artifact:…, ioc:…"'
        : f === 'since'
          ? ' placeholder="2026-01-01T00:00:00Z"'
          : f === 'type'
            ? ' placeholder="iocs.insert"'
            : '';
    return `<label>${f} <input name="${f}" value="${escapeHtml(shown(f))}"${hint}></label>`;
  }).join(' ');
  const scope =
    tenant === undefined
      ? ''
      : `<p>This key sees the jobs of tenant <strong>${escapeHtml(tenant)}</strong> only.</p>`;
  return `${scope}<form method="get" action="${escapeHtml(base)}">${inputs} <button>Search</button></form>`;
}

/** One job as a table row: its id links to its page on the board. */
function jobRow(job: JobDescription, base: string, isAdmin: boolean, returnTo: string): string {
  const id = job.id ?? '';
  const link =
    job.dashboard_url === undefined
      ? escapeHtml(id)
      : `<a href="${escapeHtml(job.dashboard_url)}">${escapeHtml(id)}</a>`;
  const cancel =
    isAdmin && CANCELLABLE.has(job.state)
      ? `<form method="post" action="${escapeHtml(`${base}/${encodeURIComponent(id)}/cancel`)}"><input type="hidden" name="return_to" value="${escapeHtml(returnTo)}"><button>Cancel</button></form>`
      : '';
  return `<tr><td>${link}</td><td>${escapeHtml(job.type)}</td><td>${escapeHtml(job.queue)}</td>
<td>${escapeHtml(job.state)}</td><td>${escapeHtml(job.tenant ?? '')}</td><td>${escapeHtml(job.enqueued_by ?? '')}</td>
<td>${job.tags.map((t) => escapeHtml(t)).join('<br>')}</td><td>${escapeHtml(job.created_at)}</td><td>${cancel}</td></tr>`;
}
