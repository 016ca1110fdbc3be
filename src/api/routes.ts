import type { Config } from '../config.js';
import type { JobRegistry } from '../../jobs/job-registry.js';
import type { Route } from './route.js';
import type { ApiRouteDeps } from './route-deps.js';
import { activityRouteTable } from './routes/activities.js';
import { artifactRouteTable } from './routes/artifacts.js';
import { detectionRouteTable } from './routes/detections.js';
import { configRouteTable } from './routes/config.js';
import { artifactObjectRouteTable } from './routes/artifact-objects.js';
import { healthRouteTable } from './routes/health.js';
import { ingestRouteTable } from './routes/ingest.js';
import { iocRouteTable } from './routes/iocs.js';
import { iocSearchRouteTable } from './routes/ioc-search.js';
import { jobRouteTable } from './routes/jobs.js';
import { jobSearchRouteTable } from './routes/job-search.js';
import { maintenanceRouteTable } from './routes/maintenance.js';
import { metricsRouteTable } from './routes/metrics.js';
import { openapiRouteTable } from './routes/openapi.js';
import { planRouteTable } from './routes/plans.js';
import { recordRouteTable } from './routes/records.js';
import { statusRouteTable } from './routes/status.js';
import { usageRouteTable } from './routes/usage.js';
import { watermarkRouteTable } from './routes/watermarks.js';
import { deadLetterRouteTable } from './routes/dead-letters.js';
import { scheduleRouteTable } from './routes/schedules.js';

/** The public rows, served before the dashboard and without a key. */
export const publicRouteTable = [...healthRouteTable, ...metricsRouteTable, ...openapiRouteTable];

/**
 * The authenticated /v1 rows, in the order app.ts serves them: `streamed` before the JSON
 * parser (uploads, and rows with their own small parser), `json` after it.
 */
export function v1RouteTables(
  config: Config,
  registry: JobRegistry,
): { streamed: Route<ApiRouteDeps>[]; json: Route<ApiRouteDeps>[] } {
  return {
    streamed: [...artifactRouteTable(config), ...artifactObjectRouteTable],
    json: [
      ...jobRouteTable(config, registry),
      ...jobSearchRouteTable(config),
      ...ingestRouteTable(config),
      ...detectionRouteTable(config),
      ...activityRouteTable(config),
      ...recordRouteTable(config),
      ...iocRouteTable,
      ...iocSearchRouteTable,
      ...watermarkRouteTable,
      ...maintenanceRouteTable(registry),
      ...configRouteTable,
      ...statusRouteTable,
      ...planRouteTable,
      ...deadLetterRouteTable,
      ...scheduleRouteTable(config, registry),
      ...usageRouteTable,
    ],
  };
}

/**
 * Every operation of the api, in the order app.ts mounts them: the one table OpenAPI and the
 * SDK's types derive from.
 */
export function apiRouteTable(config: Config, registry: JobRegistry): Route<ApiRouteDeps>[] {
  const v1 = v1RouteTables(config, registry);
  return [...publicRouteTable, ...v1.streamed, ...v1.json];
}
