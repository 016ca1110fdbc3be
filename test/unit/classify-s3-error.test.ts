import { describe, expect, it } from 'vitest';
import { PermanentError, TransientError } from '../../src/errors/index.js';
import { classifyS3Error, isS3NotFound } from '../../src/stores/s3/classify-s3-error.js';

/** An error shaped as @aws-sdk/client-s3 throws them (as seen from Ceph RGW 16 here). */
function s3Error(name: string, status: number | undefined, extra: Record<string, unknown> = {}) {
  return Object.assign(new Error('UnknownError'), {
    name,
    ...(name !== 'Unknown' && name !== 'NotFound' ? { Code: name } : {}),
    $fault: status !== undefined && status >= 500 ? 'server' : 'client',
    $metadata: status === undefined ? {} : { httpStatusCode: status },
    ...extra,
  });
}

const where = { bucket: 'stowage-samples', key: 'samples/r1/a.log', operation: 'UploadPart' };

describe('classifyS3Error', () => {
  it.each([
    ['NoSuchKey', 404, 'storage_not_found'],
    ['NotFound', 404, 'storage_not_found'],
    ['AccessDenied', 403, 'storage_access_denied'],
    ['InvalidAccessKeyId', 403, 'storage_access_denied'],
    ['SignatureDoesNotMatch', 403, 'storage_access_denied'],
    // A HEAD refused for a bad signature has no body: only the status says so.
    ['Unknown', 403, 'storage_access_denied'],
    ['NoSuchBucket', 404, 'storage_bucket_error'],
    ['EntityTooLarge', 400, 'storage_quota_exceeded'],
    ['QuotaExceeded', 403, 'storage_quota_exceeded'],
    ['MetadataTooLarge', 400, 'storage_invalid_request'],
  ])('%s (%s) is permanent %s', (name, status, code) => {
    const err = classifyS3Error(s3Error(name, status), where);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.code).toBe(code);
    expect(err.context).toMatchObject({
      bucket: where.bucket,
      key: where.key,
      operation: 'UploadPart',
    });
  });

  it.each([
    ['SlowDown', 503],
    ['ServiceUnavailable', 503],
    ['InternalError', 500],
    ['Unknown', 502],
    ['TooManyRequests', 429],
    ['RequestTimeout', 400],
  ])('%s (%s) is transient storage_unavailable', (name, status) => {
    const err = classifyS3Error(s3Error(name, status), where);
    expect(err).toBeInstanceOf(TransientError);
    expect(err.code).toBe('storage_unavailable');
  });

  it('socket errors and timeouts are transient storage_unavailable', () => {
    const cases: unknown[] = [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
      new Error('socket hang up'),
      Object.assign(new Error('wrapped'), { cause: { code: 'ETIMEDOUT' } }),
      Object.assign(new Error('Connection timed out after 1000 ms'), { name: 'TimeoutError' }),
    ];
    for (const e of cases) {
      const err = classifyS3Error(e, where);
      expect(err, String(e)).toBeInstanceOf(TransientError);
      expect(err.code).toBe('storage_unavailable');
    }
  });

  it('other failures are transient storage_upload_failed (storage_download_failed for GetObject)', () => {
    expect(classifyS3Error(s3Error('InvalidPart', 400), where)).toMatchObject({
      kind: 'transient',
      code: 'storage_upload_failed',
    });
    expect(
      classifyS3Error(s3Error('InvalidRange', 416), { ...where, operation: 'GetObject' }),
    ).toMatchObject({ kind: 'transient', code: 'storage_download_failed' });
  });

  it('keeps errors that are already classified and names the object in the message', () => {
    const mine = new PermanentError('checksum_mismatch', 'digest differs');
    expect(classifyS3Error(mine, where)).toBe(mine);
    expect(classifyS3Error(s3Error('AccessDenied', 403), where).message).toContain(
      'UploadPart stowage-samples/samples/r1/a.log',
    );
  });

  it('isS3NotFound covers NoSuchUpload, and RGW 16 answering NoSuchKey for an unknown upload id', () => {
    expect(isS3NotFound(s3Error('NoSuchUpload', 404))).toBe(true);
    expect(isS3NotFound(s3Error('NoSuchKey', 404))).toBe(true);
    expect(isS3NotFound(s3Error('AccessDenied', 403))).toBe(false);
  });
});
