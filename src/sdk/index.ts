// The HTTP client applications use to talk to Stowage (`import … from 'stowage/sdk'`).
export { StowageClient } from './client.js';
export type {
  ArtifactDownload,
  CallOptions,
  DownloadOptions,
  DownloadRange,
  RetryEvent,
  StowageClientOptions,
  UploadOptions,
  UploadSource,
  WaitOptions,
} from './client.js';
export { StowageApiError } from './stowage-api-error.js';
export type { ProblemBody, ProblemField } from './stowage-api-error.js';
export { JobFailedError } from './job-failed-error.js';
export { JobWaitTimeoutError } from './job-wait-timeout-error.js';
export { DEFAULT_RETRY } from './retry-policy.js';
export type { RetryOptions } from './retry-policy.js';
export type * from './types.js';
export type * from './detection-types.js';
export type * from './activity-types.js';
export type * from './record-types.js';
export type * from './plan-types.js';
export type * from './dead-letter-types.js';
export type { ErrorCode } from '../errors/error-codes.js';
