import { sameOrigin } from './same-origin.js';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { ApiKey } from '../src/config.js';
import { ForbiddenError } from '../src/errors/index.js';
import { authenticate, hasScope } from '../src/http/auth.js';
import type { DeadLetterStore } from '../src/stores/postgres/dead-letter-store.js';
import type { JobRegistry } from '../jobs/job-registry.js';
import type { QueueSet } from '../queues/queue-set.js';
import {
  deadLetterListQuerySchema,
  deadLetterPurgeBodySchema,
  listDeadLetters,
  purgeDeadLetters,
  retryDeadLetter,
} from '../queues/use-cases/dead-letters.js';
import { escapeHtml, pageHtml } from './page-html.js';

/** What the dead-letter page reads and acts on (read when a request comes). */
export interface DeadLettersPageOptions {
  basePath: string;
  keys: readonly ApiKey[];
  deadLetters: () => DeadLetterStore;
  queues: QueueSet;
  registry: JobRegistry;
}

/**
 * `<DASHBOARD_PATH>/dead-letters`: the dead-letter store as a table, filtered by queue, type
 * and tenant, a page at a time, behind the board's auth (read keys see it, admin keys get
 * the retry and purge buttons, which post to this page's own routes).
 */
export function deadLettersPage(options: DeadLettersPageOptions): Router {
  const base = `${options.basePath}/dead-letters`;
  const router = Router();
  const auth = authenticate(options.keys, { basicRealm: 'Stowage dashboard' });
  const readable = (_req: Request, res: Response, next: NextFunction) => {
    if (hasScope(res.locals.caller, 'read') || hasScope(res.locals.caller, 'admin')) next();
    else next(new ForbiddenError('the dashboard needs the "read" or "admin" scope'));
  };
  const admin = (req: Request, res: Response, next: NextFunction) => {
    if (!hasScope(res.locals.caller, 'admin')) {
      next(new ForbiddenError('retry and purge need the "admin" scope'));
    } else if (!sameOrigin(req)) next(new ForbiddenError('a form from another site'));
    else next();
  };

  router.get(base, auth, readable, async (req, res, next) => {
    try {
      const raw: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.query))
        if (typeof v === 'string' && v !== '') raw[k] = v;
      const query = deadLetterListQuerySchema.parse(raw);
      const page = await listDeadLetters(query, { deadLetters: options.deadLetters() });
      const isAdmin = hasScope(res.locals.caller, 'admin');
      const rows = page.dead_letters
        .map(
          (d) => `<tr>
<td>${escapeHtml(d.id)}</td><td>${escapeHtml(d.queue)}</td><td>${escapeHtml(d.type)}</td>
<td>${escapeHtml(d.job_id)}</td><td>${escapeHtml(d.tenant ?? '')}</td>
<td>${escapeHtml(d.failure_code)}<pre>${escapeHtml(d.reason)}</pre></td>
<td>${d.attempts_made}/${d.max_attempts}</td><td>${escapeHtml(d.dead_lettered_at)}</td>
<td>${
            d.retry_job_id !== null
              ? `retried as ${escapeHtml(d.retry_job_id)}`
              : isAdmin
                ? `<form method="post" action="${escapeHtml(`${base}/${d.id}/retry`)}"><button>Retry</button></form>`
                : ''
          }</td></tr>`,
        )
        .join('\n');
      const filters = ['queue', 'type', 'tenant']
        .map((f) => `<label>${f} <input name="${f}" value="${escapeHtml(raw[f] ?? '')}"></label>`)
        .join(' ');
      const next =
        page.next_cursor === null
          ? ''
          : `<p><a href="${escapeHtml(`${base}?${new URLSearchParams({ ...raw, cursor: page.next_cursor }).toString()}`)}">Next page</a></p>`;
      const purge = isAdmin
        ? `<form method="post" action="${escapeHtml(`${base}/purge`)}">${['queue', 'type', 'tenant']
            .filter((f) => raw[f] !== undefined)
            .map((f) => `<input type="hidden" name="${f}" value="${escapeHtml(raw[f] ?? '')}">`)
            .join('')}${
            ['queue', 'type', 'tenant'].some((f) => raw[f] !== undefined)
              ? ''
              : '<input type="hidden" name="all" value="true">'
          }<button>Purge these dead letters</button></form>`
        : '';
      const body = `<p><a href="${escapeHtml(options.basePath)}">Queues</a></p>
<form method="get" action="${escapeHtml(base)}">${filters} <button>Filter</button></form>
${purge}
<table><thead><tr><th>ID</th><th>Queue</th><th>Type</th><th>Job</th><th>Tenant</th><th>Failure</th><th>Attempts</th><th>Dead-lettered</th><th></th></tr></thead>
<tbody>
${rows || '<tr><td colspan="9">No dead letters.</td></tr>'}
</tbody></table>
${next}`;
      res.type('html').send(pageHtml('Stowage dead letters', body));
    } catch (err) {
      next(err);
    }
  });

  router.post(`${base}/:id/retry`, auth, admin, async (req, res, next) => {
    try {
      await retryDeadLetter(
        { id: String(req.params.id) },
        {
          deadLetters: options.deadLetters(),
          queues: options.queues,
          registry: options.registry,
        },
      );
      res.redirect(303, base);
    } catch (err) {
      next(err);
    }
  });

  router.post(
    `${base}/purge`,
    auth,
    admin,
    express.urlencoded({ extended: false, limit: '4kb' }),
    async (req, res, next) => {
      try {
        const form = req.body as Record<string, string>;
        const filter = deadLetterPurgeBodySchema.parse({
          ...form,
          ...(form.all === undefined ? {} : { all: form.all === 'true' }),
        });
        await purgeDeadLetters(filter, { deadLetters: options.deadLetters() });
        res.redirect(303, base);
      } catch (err) {
        next(err);
      }
    },
  );
  return router;
}
