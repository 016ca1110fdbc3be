import { sameOrigin } from './same-origin.js';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Router, type RequestHandler } from 'express';
import type { Job, Queue } from 'bullmq';
import type { ApiKey } from '../src/config.js';
import { authenticate, hasScope } from '../src/http/auth.js';
import { ForbiddenError } from '../src/errors/index.js';
import { redactJobData, redactText } from '../jobs/redact.js';
import { QUEUE_DEFAULTS } from '../queues/queue-defaults.js';
import { JOB_DEFINITIONS } from '../jobs/registry.js';
import { cancelJob, type CancelJobDeps } from '../queues/use-cases/cancel-job.js';
import { queueDescriptions } from './queue-descriptions.js';

const DESCRIPTIONS = queueDescriptions(JOB_DEFINITIONS);

const READS = new Set(['GET', 'HEAD']);

/**
 * A job as the board shows it: data and return value pass through the adapter's formatters,
 * but the failure reason, stack trace and logs do not, so they are redacted here.
 */
function redactedJob(job: Job): Job {
  const view = Object.create(job) as Job;
  view.toJSON = () => {
    const json = job.toJSON();
    return {
      ...json,
      failedReason: redactText(json.failedReason ?? ''),
      stacktrace: (json.stacktrace ?? []).map((line) => redactText(line)),
    };
  };
  return view;
}

/** The BullMQ adapter whose every path to job details goes through redaction. */
class RedactingBullMQAdapter extends BullMQAdapter {
  constructor(queue: Queue, options: ConstructorParameters<typeof BullMQAdapter>[1]) {
    super(queue, options);
    // No spool file name, URL query or secret-shaped field on the board (jobs/redact.ts).
    this.setFormatter('data', redactJobData);
    this.setFormatter('returnValue', redactJobData);
  }

  override async getJob(id: string): Promise<Job | undefined> {
    const job = await super.getJob(id);
    return job ? redactedJob(job) : job;
  }

  override async getJobs(...args: Parameters<BullMQAdapter['getJobs']>): Promise<Job[]> {
    return (await super.getJobs(...args)).map(redactedJob);
  }

  override async getJobLogs(id: string): Promise<string[]> {
    return (await super.getJobLogs(id)).map((line) => redactText(line));
  }
}

function board(queues: Queue[], basePath: string, readOnly: boolean): RequestHandler {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(basePath);
  createBullBoard({
    queues: queues.map(
      (q) =>
        new RedactingBullMQAdapter(q, {
          readOnlyMode: readOnly,
          allowRetries: !readOnly,
          description: DESCRIPTIONS[q.name] ?? '',
        }),
    ),
    serverAdapter,
    options: { uiConfig: { boardTitle: readOnly ? 'Stowage (read-only)' : 'Stowage' } },
  });
  return serverAdapter.getRouter() as RequestHandler;
}

/**
 * Bull Board over the given queues, behind API-key auth (Bearer, or Basic with the key as
 * password so a browser can sign in): admin keys get the full board, read keys a read-only one.
 */
export function dashboardRouter(options: {
  queues: Queue[];
  keys: readonly ApiKey[];
  basePath: string;
  /** Serves `POST <basePath>/api/jobs/:id/cancel` (admin) with these; unset: no such route. */
  cancel?: CancelJobDeps | undefined;
}): Router {
  const { queues, keys, basePath } = options;
  const full = board(queues, basePath, false);
  const readOnly = board(queues, basePath, true);
  const router = Router();
  const cancelDeps = options.cancel;
  if (cancelDeps) {
    // Before the board: its router would answer this path itself. Admin only, as every action.
    router.post(
      `${basePath}/api/jobs/:id/cancel`,
      authenticate(keys, { basicRealm: 'Stowage dashboard' }),
      (req, res, next) => {
        const caller = res.locals.caller;
        if (!hasScope(caller, 'admin')) {
          next(new ForbiddenError('cancelling a job needs the "admin" scope'));
          return;
        }
        // A plain POST: another site's form could send it with the board's cached credentials.
        if (!sameOrigin(req)) {
          next(new ForbiddenError('a cancel from another site'));
          return;
        }
        cancelJob(cancelDeps, { id: String(req.params.id), by: caller?.name ?? 'dashboard' })
          .then((view) => res.status(view.state === 'cancelling' ? 202 : 200).json(view))
          .catch(next);
      },
    );
  }
  router.use(
    basePath,
    authenticate(keys, { basicRealm: 'Stowage dashboard' }),
    (req, res, next) => {
      const caller = res.locals.caller;
      if (hasScope(caller, 'admin')) full(req, res, next);
      // Bull Board's read-only mode guards each action on its own, and some (pause all)
      // answer 200 doing nothing: a read key gets no action at all.
      else if (hasScope(caller, 'read') && !READS.has(req.method))
        next(new ForbiddenError('the read-only dashboard cannot change queues'));
      else if (hasScope(caller, 'read')) readOnly(req, res, next);
      else next(new ForbiddenError('the dashboard needs the "read" or "admin" scope'));
    },
  );
  return router;
}

/** Queue names and their lock durations, for the dashboard's own page title and docs. */
export const DASHBOARD_QUEUES = Object.keys(QUEUE_DEFAULTS);
