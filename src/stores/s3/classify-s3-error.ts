import {
  PermanentError,
  SaturationError,
  TransientError,
  type ErrorContext,
} from '../../errors/index.js';
import { NETWORK_ERROR_CODES } from '../../errors/network-codes.js';

/** Where an S3 call failed: what a person needs to find the object. */
export interface S3ErrorContext {
  bucket?: string | undefined;
  key?: string | undefined;
  /** The S3 operation, e.g. `UploadPart`. */
  operation: string;
}

const NETWORK_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);
const NETWORK_MESSAGE =
  /socket hang up|ECONNREFUSED|ECONNRESET|ETIMEDOUT|timed? ?out|other side closed/i;

// Throttling and server trouble, whatever the status the server chose to send it with.
const UNAVAILABLE_CODES = new Set([
  'SlowDown',
  'ServiceUnavailable',
  'InternalError',
  'TooManyRequests',
  'ThrottlingException',
  'Throttling',
  'RequestThrottled',
  'RequestTimeout',
]);

// The server asking to be sent less (S3 SlowDown is a 503): a saturated sink, not a broken one.
const SATURATION_CODES = new Set([
  'SlowDown',
  'ServiceUnavailable',
  'TooManyRequests',
  'ThrottlingException',
  'Throttling',
  'RequestThrottled',
]);

/** What S3 is left alone for after it asked to be sent less (AWS: back off from ~1 s). */
const S3_SATURATION_DELAY_MS = 1_000;

const DENIED_CODES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'Forbidden',
  'AllAccessDisabled',
  'AccountProblem',
  'InvalidToken',
  'ExpiredToken',
  'InvalidSecurity',
]);

const BUCKET_CODES = new Set([
  'NoSuchBucket',
  'InvalidBucketName',
  'InvalidBucketState',
  'TooManyBuckets',
  'BucketAlreadyExists',
  'InvalidLocationConstraint',
  'IllegalLocationConstraintException',
]);

const NOT_FOUND_CODES = new Set(['NoSuchKey', 'NotFound', 'NoSuchUpload', 'NoSuchVersion']);

// RGW answers QuotaExceeded (403) when a user or bucket quota is full: as final as too large.
const TOO_LARGE_CODES = new Set(['EntityTooLarge', 'QuotaExceeded', 'MaxMessageLengthExceeded']);

// The request itself is wrong: sending it again gets the same answer.
const INVALID_CODES = new Set([
  'MetadataTooLarge',
  'KeyTooLongError',
  'InvalidArgument',
  'InvalidStorageClass',
  'InvalidObjectState',
]);

interface S3LikeError {
  name?: unknown;
  Code?: unknown;
  code?: unknown;
  message?: unknown;
  $fault?: unknown;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  cause?: unknown;
}

/** The error code an S3 error carries: the XML `<Code>`, else the SDK's name (HEAD errors have no body). */
export function s3ErrorCode(err: unknown): string | undefined {
  const e = (err ?? {}) as S3LikeError;
  if (typeof e.Code === 'string') return e.Code;
  if (typeof e.name === 'string' && e.name !== 'Error' && e.name !== 'UnknownError') return e.name;
  return undefined;
}

/** The HTTP status of an S3 error response, when there was one. */
export function s3ErrorStatus(err: unknown): number | undefined {
  const status = ((err ?? {}) as S3LikeError).$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/** True for "no such object / upload" answers (RGW 16 answers NoSuchKey for an unknown upload id). */
export function isS3NotFound(err: unknown): boolean {
  const code = s3ErrorCode(err);
  return (code !== undefined && NOT_FOUND_CODES.has(code)) || s3ErrorStatus(err) === 404;
}

function networkCode(err: unknown): string | undefined {
  // The socket error may sit on the error itself or on its cause (undici, smithy wrappers).
  for (let e = err as S3LikeError | undefined, depth = 0; e && depth < 4; depth++) {
    if (typeof e.code === 'string' && NETWORK_ERROR_CODES.has(e.code)) return e.code;
    e = e.cause as S3LikeError | undefined;
  }
  return undefined;
}

/**
 * Maps an error from @aws-sdk/client-s3 onto a PermanentError or a TransientError with a
 * stable code (seed 003's storage errors); errors already classified pass through, and
 * unknown ones count as transient.
 */
export function classifyS3Error(
  err: unknown,
  where: S3ErrorContext,
): PermanentError | TransientError {
  if (err instanceof PermanentError || err instanceof TransientError) return err;
  const code = s3ErrorCode(err);
  const status = s3ErrorStatus(err);
  const message = err instanceof Error ? err.message : String(err);
  const context: ErrorContext = { backend: 's3', operation: where.operation };
  if (where.bucket !== undefined) context.bucket = where.bucket;
  if (where.key !== undefined) context.key = where.key;
  if (code !== undefined) context.s3Code = code;
  if (status !== undefined) context.httpStatus = status;
  const options = { cause: err };
  const what = `${where.operation} ${where.bucket ?? ''}${where.key ? `/${where.key}` : ''}`.trim();
  const detail = code && code !== message ? `${code}: ${message}` : message;

  const socket = networkCode(err);
  if ((code !== undefined && SATURATION_CODES.has(code)) || status === 503 || status === 429) {
    return new SaturationError(
      'storage_unavailable',
      `S3 saturated during ${what}, slowing down: ${detail}`,
      context,
      { ...options, retryAfterMs: S3_SATURATION_DELAY_MS },
    );
  }
  if (
    socket !== undefined ||
    (code !== undefined && (NETWORK_NAMES.has(code) || UNAVAILABLE_CODES.has(code))) ||
    (status !== undefined && (status >= 500 || status === 429)) ||
    (status === undefined && NETWORK_MESSAGE.test(message))
  ) {
    return new TransientError(
      'storage_unavailable',
      `S3 unavailable during ${what}: ${socket ?? detail}`,
      context,
      options,
    );
  }
  if (code !== undefined && BUCKET_CODES.has(code)) {
    return new PermanentError(
      'storage_bucket_error',
      `bucket problem during ${what}: ${detail}`,
      context,
      options,
    );
  }
  if (code !== undefined && TOO_LARGE_CODES.has(code)) {
    return new PermanentError(
      'storage_quota_exceeded',
      `S3 refused ${what} as too large: ${detail}`,
      context,
      options,
    );
  }
  if ((code !== undefined && DENIED_CODES.has(code)) || status === 403) {
    return new PermanentError(
      'storage_access_denied',
      `S3 denied ${what} (check the credentials and bucket policy): ${detail}`,
      context,
      options,
    );
  }
  if ((code !== undefined && NOT_FOUND_CODES.has(code)) || status === 404) {
    return new PermanentError('storage_not_found', `not found: ${what}`, context, options);
  }
  if (code !== undefined && INVALID_CODES.has(code)) {
    return new PermanentError(
      'storage_invalid_request',
      `S3 rejected ${what}: ${detail}`,
      context,
      options,
    );
  }
  // Anything else (InvalidPart after a lost part, a 400 we do not know): a fresh try may pass.
  return new TransientError(
    where.operation === 'GetObject' ? 'storage_download_failed' : 'storage_upload_failed',
    `S3 ${what} failed: ${detail}`,
    context,
    options,
  );
}
