// The in-process producer applications embed (`import … from 'stowage/producer'`).
export { connectProducer } from './connect-producer.js';
export type { ProducerConnection, ProducerConnectionOptions } from './connect-producer.js';
export type { IngestIocsInput, IngestLimits, IngestResult } from './use-cases/ingest-iocs.js';
export type { ActivityIngestResult, IngestActivitiesInput } from './use-cases/ingest-activities.js';
export { Producer } from './producer.js';
export type { BulkOptions, EnqueueOptions, EnqueuedJob, FlowNode } from './producer.js';
export { ValidationError } from '../src/errors/index.js';
