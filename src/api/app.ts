import { resolve } from 'node:path';
import express, { type Express } from 'express';
import type { Config } from '../config.js';
import type { Root } from '../composition/root.js';
import type { Logger } from '../log.js';
import { Spool } from '../stores/local/spool.js';
import { artifactBuckets } from '../stores/s3/artifact-buckets.js';
import type { AnyJobDefinition } from '../../jobs/job-definition.js';
import type { JobRegistry } from '../../jobs/job-registry.js';
import type { Producer } from '../../queues/producer.js';
import type { QueueSet } from '../../queues/queue-set.js';
import { dashboardRouter } from '../../dashboard/bull-board.js';
import { deadLettersPage } from '../../dashboard/dead-letters-page.js';
import { schedulesPage } from '../../dashboard/schedules-page.js';
import { jobsPage } from '../../dashboard/jobs-page.js';
import { dashboardLinkOf } from '../../queues/dashboard-link.js';
import { authenticateOrOpen } from './open-watermark-access.js';
import { authorizeRoute } from './route-access.js';
import type { Caller } from '../http/auth.js';
import { closeUnreadBody } from '../http/unread-body.js';
import {
  API_SECURITY_HEADERS,
  DASHBOARD_SECURITY_HEADERS,
  securityHeaders,
} from '../http/security-headers.js';
import { MIN_BODY_BYTES_PER_SECOND, bodyTimeout } from './body-timeout.js';
import { JSON_TYPES, jsonBody, sizeInBytes } from './json-body.js';
import { createOpenApiDocument } from './openapi.js';
import { HttpProblem, problemHandler } from '../http/problem.js';
import { routerFor } from './express-adapter.js';
import type { ApiRouteDeps } from './route-deps.js';
import { publicRouteTable, v1RouteTables } from './routes.js';
import { QuotaGate } from './quota-gate.js';
import { reportingEnqueues } from '../../queues/reporting-producer.js';

/** What the api app is built from; the caller owns and closes every piece. */
export interface AppOptions {
  config: Config;
  deps: Pick<
    Root,
    | 'checkBackends'
    | 'hotStore'
    | 'iocCache'
    | 'watermarks'
    | 'artifacts'
    | 'artifactDeletions'
    | 'metrics'
    | 'idempotency'
    | 'detections'
    | 'configStore'
    | 'archivedIocs'
    | 'activities'
    | 'records'
    | 'archivedRecords'
    | 'iocSearch'
    | 'settings'
    | 'log'
    | 'pg'
    | 'maintenancePlans'
    | 'deadLetters'
    | 'redis'
    | 'quotas'
    | 'usage'
    | 'memoryGauge'
  >;
  log: Logger;
  registry: JobRegistry;
  producer: Producer<readonly AnyJobDefinition[]>;
  queues: QueueSet;
  /** Mount Bull Board at DASHBOARD_PATH (default true). */
  dashboard?: boolean;
}

/** The intake API: health, the OpenAPI document, dashboard, then every authenticated /v1 route. */
export function createApp(options: AppOptions): Express {
  const { config, log } = options;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);

  app.use((req, res, next) => {
    const started = performance.now();
    res.on('finish', () => {
      log.info(
        {
          method: req.method,
          path: req.path,
          status: res.statusCode,
          ms: Math.round(performance.now() - started),
          caller: res.locals.caller?.name,
        },
        'request',
      );
    });
    next();
  });

  app.use(securityHeaders(API_SECURITY_HEADERS));
  app.use(
    bodyTimeout({ ms: config.API_BODY_TIMEOUT_MS, minBytesPerSecond: MIN_BODY_BYTES_PER_SECOND }),
  );
  // Built before listening, so a schema the generator cannot read fails at start, not on a request.
  const openApi = createOpenApiDocument(config, options.registry);
  const routeDeps: ApiRouteDeps = {
    // Each store is read when a request comes, not when the app is built.
    stores: options.deps,
    queues: () => options.queues.all(),
    openApi,
    registry: options.registry,
    producer: options.producer,
    jobQueues: options.queues,
    ingest: { maxIocs: config.INGEST_MAX_IOCS, chunkSize: config.INGEST_CHUNK_SIZE },
    artifacts: {
      spool: new Spool(resolve(config.SPOOL_DIR), { maxBytes: config.SPOOL_MAX_BYTES }),
      maxBytes: config.ARTIFACT_MAX_BYTES,
      presignDefaultSeconds: config.PRESIGN_DEFAULT_SECONDS,
      presignMaxSeconds: config.PRESIGN_MAX_SECONDS,
      bucketFor: (kind) => artifactBuckets(config)[kind],
      archiveBucket: config.ARCHIVE_BUCKET,
    },
  };
  const v1Rows = v1RouteTables(config, options.registry);
  app.use(routerFor(publicRouteTable, routeDeps));
  if (options.dashboard !== false) {
    app.use(config.DASHBOARD_PATH, securityHeaders(DASHBOARD_SECURITY_HEADERS));
    // The board's own pages, before Bull Board (its router answers every path under its base).
    const { deps } = options;
    const pageAuth = { basePath: config.DASHBOARD_PATH, keys: config.API_KEYS };
    app.use(
      deadLettersPage({
        ...pageAuth,
        deadLetters: () => deps.deadLetters,
        queues: options.queues,
        registry: options.registry,
      }),
    );
    app.use(schedulesPage({ ...pageAuth, config, redis: deps.redis }));
    app.use(
      jobsPage({
        ...pageAuth,
        queues: options.queues,
        registry: options.registry,
        search: options.producer.search,
        redis: deps.redis,
        dashboardLink: dashboardLinkOf(config),
      }),
    );
    app.use(
      dashboardRouter({
        queues: options.queues.all(),
        keys: config.API_KEYS,
        basePath: config.DASHBOARD_PATH,
        cancel: {
          registry: options.registry,
          queues: options.queues,
          redis: options.deps.redis,
        },
      }),
    );
  }

  const v1 = express.Router();
  // With WATERMARK_OPEN_CIDRS set, seed 001's keyless client reaches its routes from those networks.
  v1.use(
    authenticateOrOpen(config.API_KEYS, {
      openCidrs: config.WATERMARK_OPEN_CIDRS,
      document: openApi,
    }),
  );
  // The scope each route needs, from the route table's metadata (the OpenAPI document), is
  // checked here, before any body parser: a refused body is never read.
  v1.use(authorizeRoute(openApi));
  // Quotas and the Redis memory ceiling, also before any body byte is read.
  const quotaGate = new QuotaGate({
    quotas: config.TENANT_QUOTAS,
    store: options.deps.quotas,
    usage: options.deps.usage,
    memory: options.deps.memoryGauge,
    metrics: options.deps.metrics,
    log,
  });
  v1.use(quotaGate.middleware());
  const onBehalfOf = accountedTo(quotaGate);
  // Before the JSON parser and its 415 guard: uploads are streamed, in any media type.
  v1.use(routerFor(v1Rows.streamed, routeDeps, onBehalfOf));
  v1.use(jsonBody(config.API_BODY_LIMIT, { max: sizeInBytes(config.API_BODY_BUDGET), used: 0 }));
  v1.use((req, res, next) => {
    // A body the JSON parser did not read is the wrong media type, not an empty payload.
    const hasBody =
      req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0';
    if (
      (req.method === 'POST' || req.method === 'PUT') &&
      (hasBody || req.headers['transfer-encoding']) &&
      !req.is(JSON_TYPES)
    ) {
      closeUnreadBody(req, res);
      next(new HttpProblem(415, 'unsupported_media_type', 'send the body as application/json'));
      return;
    }
    next();
  });
  v1.use(routerFor(v1Rows.json, routeDeps, onBehalfOf));
  app.use(v1);

  app.use((req, _res, next) => {
    next(new HttpProblem(404, 'not_found', `no route ${req.method} ${req.path}`));
  });
  app.use(problemHandler(log));
  return app;
}

/** A request's dependencies: every job it enqueues records its key's name and tenant. */
function onBehalfOfCaller(caller: Caller, deps: ApiRouteDeps): ApiRouteDeps {
  return {
    ...deps,
    producer: deps.producer.onBehalfOf({ enqueuedBy: caller.name, tenant: caller.tenant }),
  };
}

/** onBehalfOfCaller, with every job the request enqueues accounted to its tenant (quotas, usage). */
function accountedTo(gate: QuotaGate): (caller: Caller, deps: ApiRouteDeps) => ApiRouteDeps {
  return (caller, deps) => {
    const own = onBehalfOfCaller(caller, deps);
    return {
      ...own,
      producer: reportingEnqueues(own.producer, (jobs) => gate.enqueued(caller.tenant, jobs)),
    };
  };
}
