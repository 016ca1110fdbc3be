import type { AddressInfo } from 'node:net';
import type { Config } from '../config.js';
import { startRoot } from '../composition/root.js';
import type { Logger } from '../log.js';
import type { RunningProcess } from '../running-process.js';
import type { JobRegistry } from '../../jobs/job-registry.js';
import { createApp } from './app.js';
import { createHttpServer, httpServerLimits } from '../http/http-server.js';

/** Starts the api: intake routes, status, health, and the dashboard mount. */
export async function startApi(
  config: Config,
  log: Logger,
  options: { registry?: JobRegistry; port?: number } = {},
): Promise<RunningProcess & { url: string }> {
  // The schema, the queue Redis's eviction policy and the spool are checked before any queue opens.
  const root = await startRoot(config, log, {
    role: 'api',
    ...(options.registry ? { registry: options.registry } : {}),
  });
  const { registry, producer, queues } = root;
  // BullMQ holds calls on a queue whose connection never came up; wait here, not per request.
  await Promise.all([queues.ready(), producer.ready()]);
  const app = createApp({ config, deps: root, log, registry, producer, queues });
  const server = createHttpServer(app, httpServerLimits(config));
  server.listen(options.port ?? config.API_PORT, config.API_HOST);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  log.info(
    { url, dashboard: `${url}${config.DASHBOARD_PATH}`, keys: config.API_KEYS.map((k) => k.name) },
    'api listening',
  );
  if (config.API_KEYS.length === 0)
    log.warn('API_KEYS is empty: every /v1 request will be refused (401)');

  return {
    name: 'api',
    url,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await root.close();
      log.info('api stopped');
    },
  };
}
