import express from 'express';
import type { AddressInfo } from 'node:net';
import type { Config } from '../src/config.js';
import { createRoot } from '../src/composition/root.js';
import type { Logger } from '../src/log.js';
import type { RunningProcess } from '../src/running-process.js';
import { createHttpServer, httpServerLimits } from '../src/http/http-server.js';
import { NotFoundError } from '../src/errors/index.js';
import { problemHandler } from '../src/http/problem.js';
import {
  API_SECURITY_HEADERS,
  DASHBOARD_SECURITY_HEADERS,
  securityHeaders,
} from '../src/http/security-headers.js';
import { createJobRegistry } from '../jobs/registry.js';
import { dashboardRouter } from './bull-board.js';
import { schedulesPage } from './schedules-page.js';
import { jobsPage } from './jobs-page.js';
import { JobSearchIndex } from '../src/stores/redis/job-search-index.js';
import { dashboardLinkOf } from '../queues/dashboard-link.js';

/** Runs Bull Board on its own (DASHBOARD_PORT), without the intake API. */
export async function startDashboard(
  config: Config,
  log: Logger,
  options: { port?: number } = {},
): Promise<RunningProcess & { url: string }> {
  const root = createRoot(config, log, { role: 'dashboard' });
  const { queues } = root;
  const app = express();
  app.disable('x-powered-by');
  // Health, metrics and problems as the api sends them; the board's pages their own.
  app.use(securityHeaders(API_SECURITY_HEADERS));
  app.use(config.DASHBOARD_PATH, securityHeaders(DASHBOARD_SECURITY_HEADERS));
  app.get('/health', (_req, res) => {
    res.json({ status: 'healthy' });
  });
  // Prometheus' text format with the queue depths, as the api's GET /metrics.
  app.get('/metrics', async (_req, res) => {
    root.metrics.watchQueues(queues.all());
    const body = await root.metrics.render();
    res.type(root.metrics.contentType).send(body);
  });
  app.use(
    schedulesPage({
      basePath: config.DASHBOARD_PATH,
      keys: config.API_KEYS,
      config,
      redis: root.redis,
    }),
  );
  app.use(
    jobsPage({
      basePath: config.DASHBOARD_PATH,
      keys: config.API_KEYS,
      queues,
      registry: createJobRegistry(),
      // The page only reads the index (and prunes entries of removed jobs): the retention a
      // writer gives its keys does not apply, so none is given.
      search: new JobSearchIndex(root.redis, queues.prefix, 0),
      redis: root.redis,
      dashboardLink: dashboardLinkOf(config),
    }),
  );
  app.use(
    dashboardRouter({
      queues: queues.all(),
      keys: config.API_KEYS,
      basePath: config.DASHBOARD_PATH,
      cancel: { registry: createJobRegistry(), queues, redis: root.redis },
    }),
  );
  app.use((req, _res, next) => next(new NotFoundError(`no route ${req.method} ${req.path}`)));
  app.use(problemHandler(log));
  const server = createHttpServer(app, httpServerLimits(config));
  server.listen(options.port ?? config.DASHBOARD_PORT, config.API_HOST);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${config.DASHBOARD_PATH}`;
  log.info({ url }, 'dashboard listening');
  return {
    name: 'dashboard',
    url,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await root.close();
    },
  };
}
