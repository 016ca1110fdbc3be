import type { Deps } from '../deps.js';
import type { CountableQueue } from '../metrics.js';
import type { WatermarkStore } from '../stores/postgres/watermark-store.js';
import type { OpenApiDocument } from './openapi-document.js';

/**
 * What the routes of the table are served with. `stores` is read when a request comes, never
 * when the router is built: the api starts while a backend is down, and answers /ready 503.
 */
export interface ApiRouteDeps {
  stores: Pick<Deps, 'checkBackends' | 'hotStore' | 'iocCache' | 'metrics'> & {
    watermarks: Pick<WatermarkStore, 'get' | 'commit' | 'rewind' | 'rewinds'>;
  };
  /** The queues whose depths a metrics scrape reports. */
  queues: () => readonly CountableQueue[];
  /** The document `GET /openapi.json` answers (built before listening). */
  openApi: OpenApiDocument;
}
