import type { Config } from '../config.js';
import type { JobRegistry } from '../../jobs/job-registry.js';
import { artifactContract } from './contract/artifacts.js';
import { ingestContract } from './contract/ingest.js';
import { jobContract } from './contract/jobs.js';
import { maintenanceContract } from './contract/maintenance.js';
import type { TableRow } from './route.js';
import type { ApiRouteDeps } from './route-deps.js';
import { healthRouteTable } from './routes/health.js';
import { iocRouteTable } from './routes/iocs.js';
import { metricsRouteTable } from './routes/metrics.js';
import { openapiRouteTable } from './routes/openapi.js';
import { watermarkRouteTable } from './routes/watermarks.js';

/** The public rows, served before the dashboard and without a key. */
export const publicRouteTable = [...healthRouteTable, ...metricsRouteTable, ...openapiRouteTable];

/** The /v1 rows the express adapter serves (after authentication and the JSON parser). */
export const servedV1RouteTable = [...iocRouteTable, ...watermarkRouteTable];

/**
 * Every operation of the api, in the order app.ts mounts them: the one contract OpenAPI and
 * the SDK's types derive from. Rows with `servedBy` are served by their own express routers.
 */
export function apiRouteTable(config: Config, registry: JobRegistry): TableRow<ApiRouteDeps>[] {
  return [
    ...publicRouteTable,
    ...artifactContract(config),
    ...jobContract(config, registry),
    ...ingestContract(config),
    ...servedV1RouteTable,
    ...maintenanceContract(registry),
  ];
}
