import type { Root } from '../composition/root.js';
import type { ArtifactKind } from '../domain/artifact.js';
import type { CountableQueue } from '../metrics.js';
import type { Spool } from '../stores/local/spool.js';
import type { PostgresConfigStore } from '../stores/postgres/config-store.js';
import type { WatermarkStore } from '../stores/postgres/watermark-store.js';
import type { AnyJobDefinition } from '../../jobs/job-definition.js';
import type { JobRegistry } from '../../jobs/job-registry.js';
import type { Producer } from '../../queues/producer.js';
import type { QueueSet } from '../../queues/queue-set.js';
import type { IngestLimits } from '../../queues/use-cases/ingest-iocs.js';
import type { OpenApiDocument } from './openapi-document.js';

/** Limits and the spool of the artifact routes. */
export interface ArtifactRouteOptions {
  spool: Spool;
  /** ARTIFACT_MAX_BYTES: larger uploads are a 413. */
  maxBytes: number;
  presignDefaultSeconds: number;
  presignMaxSeconds: number;
  /** The bucket of a kind (ARTIFACT_BUCKET_*), shown in the upload answer. */
  bucketFor: (kind: ArtifactKind) => string;
  /** ARCHIVE_BUCKET: an artifact delete never reaches it, whatever a kind's bucket is. */
  archiveBucket?: string;
}

/**
 * What the routes of the table are served with. `stores` is read when a request comes, never
 * when the router is built: the api starts while a backend is down, and answers /ready 503.
 */
export interface ApiRouteDeps {
  stores: Pick<
    Root,
    | 'checkBackends'
    | 'hotStore'
    | 'iocCache'
    | 'metrics'
    | 'idempotency'
    | 'artifacts'
    | 'detections'
    | 'artifactDeletions'
    | 'archivedIocs'
    | 'activities'
    | 'records'
    | 'archivedRecords'
    | 'iocSearch'
    | 'settings'
    | 'log'
    | 'pg'
    | 'redis'
  > & {
    watermarks: Pick<WatermarkStore, 'get' | 'commit' | 'rewind' | 'rewinds'>;
    configStore: Pick<PostgresConfigStore, 'get' | 'put' | 'list'>;
  };
  /** The queues whose depths a metrics scrape reports. */
  queues: () => readonly CountableQueue[];
  /** The document `GET /openapi.json` answers (built before listening). */
  openApi: OpenApiDocument;
  registry: JobRegistry;
  producer: Producer<readonly AnyJobDefinition[]>;
  /** The queue layer the job routes find jobs in. */
  jobQueues: QueueSet;
  ingest: IngestLimits;
  artifacts: ArtifactRouteOptions;
}
