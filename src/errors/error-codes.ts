/** Whether retrying can help: the worker fails a permanent error at once, retries a transient one. */
export type ErrorKind = 'permanent' | 'transient';

/** What the catalogue knows of one code: its kind, the HTTP status the API answers, its meaning. */
export interface ErrorCodeEntry {
  kind: ErrorKind;
  status: number;
  description: string;
}

const permanent = (status: number, description: string) =>
  ({ kind: 'permanent', status, description }) as const;
const transient = (status: number, description: string) =>
  ({ kind: 'transient', status, description }) as const;

/**
 * Every stable error code Stowage raises, with its kind and HTTP status. A code missing here
 * does not compile (`StowageError`, `PermanentError`, `TransientError` and `HttpProblem` take an
 * `ErrorCode`), so no code ships without a status. The kind is the one the code is raised with;
 * `url_fetch_failed` is raised with both (a 4xx answer of the source is permanent), and so is
 * `job_timeout` (each job type declares whether its timeout is retryable).
 */
export const ERROR_CODES = {
  // Requests the API refuses.
  invalid_payload: permanent(400, 'Input does not match its schema; `errors` names each field.'),
  invalid_json: permanent(400, 'The request body is not valid JSON (or not UTF-8).'),
  bad_request: permanent(400, 'The request is malformed in a way the body parser reports.'),
  unauthorized: permanent(401, 'The API key is missing or unknown.'),
  forbidden: permanent(403, 'The caller lacks the scope, or may not act on this.'),
  not_found: permanent(404, 'No such route, job, watermark, IOC or object.'),
  unknown_job_type: permanent(404, 'No job type (or maintenance job) of that name.'),
  conflict: permanent(409, 'The request contradicts what is stored.'),
  idempotency_conflict: permanent(409, 'The Idempotency-Key was used with another request body.'),
  artifact_exists: permanent(409, 'The key already holds another artifact (write-once).'),
  artifact_protected: permanent(
    409,
    'The artifact may not be deleted: a TA bundle, under legal hold or retention, or archived.',
  ),
  range_not_satisfiable: permanent(416, 'The Range starts past the end of the object.'),
  payload_too_large: permanent(413, 'The body is over the configured limit.'),
  unsupported_media_type: permanent(
    415,
    'The body is not in a media type or charset the route reads.',
  ),
  checksum_mismatch: permanent(400, 'The SHA-256 of the bytes differs from the declared one.'),
  size_mismatch: permanent(400, 'The byte count differs from the declared size.'),
  // Artifact storage (seed 003), raised by src/stores/s3/classify-s3-error.ts and the spool.
  storage_not_found: permanent(404, 'The object or bucket does not exist.'),
  storage_access_denied: permanent(403, 'S3 denied the operation (credentials, bucket policy).'),
  storage_bucket_error: permanent(500, 'The bucket is missing or misconfigured.'),
  storage_quota_exceeded: permanent(413, 'The artifact is larger than the limit.'),
  storage_invalid_request: permanent(400, 'S3 rejected the request as invalid.'),
  storage_upload_failed: transient(502, 'An S3 upload failed; a retry may succeed.'),
  storage_download_failed: transient(502, 'An S3 download failed; a retry may succeed.'),
  storage_unavailable: transient(503, 'S3 does not answer.'),
  insufficient_storage: transient(507, 'The spool has no room for this upload now.'),
  invalid_spool_file: permanent(400, 'Not a spool file name (or job tag).'),
  spool_file_not_bound: permanent(400, 'The spool file belongs to another job.'),
  spool_file_missing: permanent(400, 'The spool file is gone and the artifact was not stored.'),
  spool_quota_exceeded: transient(503, 'The spool is over SPOOL_MAX_BYTES; try again later.'),
  spool_full: transient(503, 'The spool directory is out of space.'),
  spool_read_failed: transient(503, 'Reading a spooled file failed.'),
  upload_aborted: transient(503, 'The sender went away before the upload ended.'),
  upload_interrupted: transient(503, 'A multipart upload stopped; a retry continues it.'),
  checkpoint_failed: transient(503, 'The upload checkpoint could not be saved.'),
  overwrite_not_audited: permanent(400, 'An overwrite needs the audit log and a declared digest.'),
  url_not_allowed: permanent(400, 'The URL source is not on the allow-list.'),
  url_fetch_failed: transient(502, 'Fetching a URL source failed.'),
  url_source_deadline: transient(504, 'A URL source did not finish within its deadline.'),
  request_timeout: transient(408, 'The request body stalled or came too slowly.'),
  busy: transient(503, 'The api holds as many request bodies as it may; retry shortly.'),
  too_many_connections: transient(503, 'This client address holds too many connections.'),
  quota_exceeded: transient(
    429,
    'The tenant is over one of its quotas (TENANT_QUOTAS); the detail names it, Retry-After says when to retry.',
  ),
  redis_memory_ceiling: transient(
    503,
    'The queue Redis is over REDIS_MEMORY_CEILING; enqueueing waits until workers drain it.',
  ),
  // Backends.
  backend_unavailable: transient(503, 'A backend (Redis, PostgreSQL, ClickHouse) does not answer.'),
  backend_error: transient(503, 'A backend failed in a way a retry may outlive.'),
  backend_busy: transient(503, 'A backend asked to retry (lock conflict, too many queries).'),
  backend_rejected: permanent(400, 'A backend rejected the statement as invalid.'),
  batch_not_staged: permanent(
    500,
    'A job names a staged batch no producer wrote (its payload skipped validation), or one swept.',
  ),
  batch_digest_mismatch: permanent(500, 'A staged batch is not the one its job names.'),
  hot_store_writers_busy: transient(503, 'Writers to the hot store did not finish in time.'),
  mutation_timeout: transient(503, 'A ClickHouse mutation did not finish in time.'),
  // Archive (write-once S3 with Object Lock).
  archive_day_busy: transient(503, 'Another worker is archiving this day.'),
  archive_day_not_over: permanent(400, 'Only UTC days that are over can be archived.'),
  archive_bucket_missing: permanent(500, 'The archive bucket does not exist.'),
  bucket_without_object_lock: permanent(500, 'The archive bucket has no Object Lock.'),
  archive_put_rejected: permanent(500, 'S3 refused an Object Lock PUT.'),
  archive_verification_failed: permanent(500, 'An archived object failed verification.'),
  // Startup refusals (StartupRefusedError); schema_not_ready also when a table is missing at run time.
  schema_not_ready: permanent(
    500,
    'The database schema is missing or older than this build (or a table of it): run `stowage init`.',
  ),
  redis_eviction_policy: permanent(500, 'Redis may evict keys, which loses jobs.'),
  unknown_schedule: permanent(500, 'A SCHEDULE_* variable names no scheduled job.'),
  // Jobs ended by the runtime (workers/job-runner.ts).
  job_timeout: transient(
    504,
    'A job ran past its maximum duration; retried or failed for good as its type declares.',
  ),
  job_cancelled: permanent(409, 'The job was cancelled (POST /v1/jobs/{id}/cancel); not retried.'),
  // The one error middleware's answer to the unexpected.
  internal: transient(500, 'An unexpected error; see the api log.'),
  // Raised by test fixtures (test/fixtures, test/e2e) on purpose.
  aborted: transient(503, 'The job was aborted (a worker shutting down).'),
  test_refused: permanent(400, 'A test job refused on purpose.'),
  test_unavailable: transient(503, 'A test job found its backend away on purpose.'),
  test_gate_closed: permanent(400, 'A test job found its gate closed.'),
  e2e_refused: permanent(400, 'An end-to-end test refused a batch on purpose.'),
} as const satisfies Record<string, ErrorCodeEntry>;

/** A stable error code: a key of the catalogue. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Every code of the catalogue, for an enum in the OpenAPI document. */
export const ERROR_CODE_NAMES = Object.keys(ERROR_CODES) as ErrorCode[];

/** The HTTP status the API answers a code with. */
export function statusOf(code: ErrorCode): number {
  return ERROR_CODES[code].status;
}

/** Whether a string is a catalogued code. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}
