import { Router, type NextFunction, type Request, type Response } from 'express';
import type { Redis } from 'ioredis';
import type { ApiKey, Config } from '../src/config.js';
import { ForbiddenError } from '../src/errors/index.js';
import { authenticate, hasScope } from '../src/http/auth.js';
import { ScheduleTickStore } from '../src/stores/redis/schedule-tick-store.js';
import { JOB_DEFINITIONS } from '../jobs/registry.js';
import { listSchedules } from '../queues/use-cases/list-schedules.js';
import { escapeHtml, pageHtml } from './page-html.js';

/**
 * `<DASHBOARD_PATH>/schedules`: every schedule with its cron, the last tick a scheduler
 * enqueued and the next one, behind the board's auth (read or admin).
 */
export function schedulesPage(options: {
  basePath: string;
  keys: readonly ApiKey[];
  config: Pick<Config, 'schedules' | 'QUEUE_PREFIX'>;
  redis: Redis;
}): Router {
  const router = Router();
  const readable = (_req: Request, res: Response, next: NextFunction) => {
    if (hasScope(res.locals.caller, 'read') || hasScope(res.locals.caller, 'admin')) next();
    else next(new ForbiddenError('the dashboard needs the "read" or "admin" scope'));
  };
  router.get(
    `${options.basePath}/schedules`,
    authenticate(options.keys, { basicRealm: 'Stowage dashboard' }),
    readable,
    async (_req, res, next) => {
      try {
        const rows = await listSchedules(
          { schedules: options.config.schedules, definitions: JOB_DEFINITIONS },
          { ticks: new ScheduleTickStore(options.redis, options.config.QUEUE_PREFIX) },
        );
        const body = `<p><a href="${escapeHtml(options.basePath)}">Queues</a></p>
<table><thead><tr><th>Job</th><th>Cron (UTC)</th><th>Last tick</th><th>Next tick</th><th>Set by</th><th>Variable</th></tr></thead><tbody>
${rows
  .map(
    (r) =>
      `<tr><td>${escapeHtml(r.job)}</td><td>${escapeHtml(r.cron)}</td><td>${escapeHtml(r.last_tick ?? '-')}</td><td>${escapeHtml(r.next_tick ?? '-')}</td><td>${escapeHtml(r.source)}</td><td>${escapeHtml(r.variable)}</td></tr>`,
  )
  .join('\n')}
</tbody></table>`;
        res.type('html').send(pageHtml('Stowage schedules', body));
      } catch (err) {
        next(err);
      }
    },
  );
  return router;
}
