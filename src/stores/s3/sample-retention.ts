import {
  DeleteObjectsCommand,
  GetObjectLegalHoldCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  ListObjectsV2Command,
  type S3Client,
  type _Object,
} from '@aws-sdk/client-s3';
import { classifyS3Error, s3ErrorCode } from './classify-s3-error.js';

/** DeleteObjects takes at most 1,000 keys. */
export const DELETE_OBJECTS_LIMIT = 1_000;

// Seed 003's sample layout: samples/{request_id}/{filename}. Listing under it means that
// nothing else is ever a candidate, even if the samples bucket is shared with other kinds.
const SAMPLE_PREFIX = 'samples/';

// Retention and legal-hold look-ups in flight at once: hides latency, stays polite.
const CHECK_CONCURRENCY = 8;

// "This object (or bucket) has no lock configuration": RGW says
// ObjectLockConfigurationNotFoundError, AWS NoSuchObjectLockConfiguration, and both say
// InvalidRequest for an object in a bucket without Object Lock. None means protected.
const NO_LOCK_CODES = new Set([
  'ObjectLockConfigurationNotFoundError',
  'NoSuchObjectLockConfiguration',
  'InvalidRequest',
]);

/** What a sample retention pass deleted (or, dry, would delete). */
export interface SampleRetentionResult {
  objects: number;
  bytes: number;
  /** ISO 8601 LastModified of the oldest and newest of them; null when there are none. */
  oldest: string | null;
  newest: string | null;
  /** Candidates skipped because they are under retention or legal hold. */
  protected: number;
  /** DeleteObjects calls made (dry: that would be made). */
  batches: number;
  /** The bucket does not exist (nothing was ever uploaded): nothing to do. */
  bucket_missing: boolean;
}

/** One deletion batch, as reported to the caller (for its log line and progress). */
export interface SampleBatch {
  no: number;
  objects: number;
  bytes: number;
}

/** Options of one pass. */
export interface SampleRetentionOptions {
  /** Objects last modified before this are candidates. */
  cutoff: Date;
  dryRun: boolean;
  /** Keys per DeleteObjects call (capped at 1,000). */
  batchSize: number;
  /** Called after each batch (dry: each batch that would be deleted). */
  onBatch?: (batch: SampleBatch) => Promise<void> | void;
  /** Called for each protected object skipped. */
  onProtected?: (key: string, reason: 'legal_hold' | 'retention') => void;
  /** Stops between pages and batches. */
  signal?: AbortSignal;
}

/**
 * Deletes log samples older than a cutoff from the samples bucket (seed 003), page by page,
 * never an object under Object Lock retention or legal hold. TA and debug bundles live in
 * their own buckets, which this class is never given.
 */
export class SampleRetention {
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
  ) {}

  /** Lists, checks and deletes (or, dry, only counts) the expired samples. */
  async run(options: SampleRetentionOptions): Promise<SampleRetentionResult> {
    const batchSize = Math.min(options.batchSize, DELETE_OBJECTS_LIMIT);
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer, got ${options.batchSize}`);
    }
    const result: SampleRetentionResult = {
      objects: 0,
      bytes: 0,
      oldest: null,
      newest: null,
      protected: 0,
      batches: 0,
      bucket_missing: false,
    };
    const locked = await this.objectLockEnabled();
    if (locked === undefined) return { ...result, bucket_missing: true };

    let oldest: Date | undefined;
    let newest: Date | undefined;
    let pending: _Object[] = [];
    const flush = async (objects: _Object[]) => {
      if (!options.dryRun) await this.deleteObjects(objects);
      const bytes = objects.reduce((sum, o) => sum + (o.Size ?? 0), 0);
      result.batches += 1;
      result.objects += objects.length;
      result.bytes += bytes;
      for (const o of objects) {
        const at = o.LastModified;
        if (at && (!oldest || at < oldest)) oldest = at;
        if (at && (!newest || at > newest)) newest = at;
      }
      await options.onBatch?.({ no: result.batches, objects: objects.length, bytes });
    };

    const now = new Date();
    let token: string | undefined;
    do {
      options.signal?.throwIfAborted();
      const page = await this.listPage(token);
      token = page.next;
      const expired = page.objects.filter(
        (o) =>
          o.Key !== undefined && o.LastModified !== undefined && o.LastModified < options.cutoff,
      );
      // Without Object Lock on the bucket no object can be held, so no per-object calls.
      const verdicts = locked
        ? await mapLimit(expired, CHECK_CONCURRENCY, (o) => this.protection(o.Key ?? '', now))
        : expired.map(() => 'free' as const);
      expired.forEach((o, i) => {
        const verdict = verdicts[i];
        if (verdict === 'free') pending.push(o);
        else if (verdict === 'legal_hold' || verdict === 'retention') {
          result.protected += 1;
          options.onProtected?.(o.Key ?? '', verdict);
        }
        // 'gone': deleted by someone else since the listing; nothing to count.
      });
      while (pending.length >= batchSize) {
        options.signal?.throwIfAborted();
        await flush(pending.slice(0, batchSize));
        pending = pending.slice(batchSize);
      }
    } while (token);
    if (pending.length > 0) await flush(pending);
    result.oldest = oldest?.toISOString() ?? null;
    result.newest = newest?.toISOString() ?? null;
    return result;
  }

  /** Whether the bucket has Object Lock; undefined when the bucket does not exist. */
  private async objectLockEnabled(): Promise<boolean | undefined> {
    try {
      const out = await this.s3.send(
        new GetObjectLockConfigurationCommand({ Bucket: this.bucket }),
      );
      return out.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled';
    } catch (err) {
      const code = s3ErrorCode(err);
      if (code === 'NoSuchBucket') return undefined;
      if (code !== undefined && NO_LOCK_CODES.has(code)) return false;
      throw classifyS3Error(err, { bucket: this.bucket, operation: 'GetObjectLockConfiguration' });
    }
  }

  /** Why an object must stay ('legal_hold', 'retention'), 'free', or 'gone' when it is not there. */
  private async protection(
    key: string,
    now: Date,
  ): Promise<'free' | 'legal_hold' | 'retention' | 'gone'> {
    const lookUp = async <T>(operation: string, send: () => Promise<T>) => {
      try {
        return await send();
      } catch (err) {
        const code = s3ErrorCode(err);
        if (code === 'NoSuchKey') return 'gone' as const;
        if (code !== undefined && NO_LOCK_CODES.has(code)) return undefined;
        throw classifyS3Error(err, { bucket: this.bucket, key, operation });
      }
    };
    const [hold, retention] = await Promise.all([
      lookUp('GetObjectLegalHold', () =>
        this.s3.send(new GetObjectLegalHoldCommand({ Bucket: this.bucket, Key: key })),
      ),
      lookUp('GetObjectRetention', () =>
        this.s3.send(new GetObjectRetentionCommand({ Bucket: this.bucket, Key: key })),
      ),
    ]);
    if (hold === 'gone' || retention === 'gone') return 'gone';
    if (hold?.LegalHold?.Status === 'ON') return 'legal_hold';
    // GOVERNANCE counts too: retention never uses the bypass.
    const until = retention?.Retention?.RetainUntilDate;
    if (until !== undefined && until > now) return 'retention';
    return 'free';
  }

  private async listPage(
    token: string | undefined,
  ): Promise<{ objects: _Object[]; next?: string }> {
    try {
      const out = await this.s3.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: SAMPLE_PREFIX,
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      const next = out.IsTruncated ? out.NextContinuationToken : undefined;
      return { objects: out.Contents ?? [], ...(next ? { next } : {}) };
    } catch (err) {
      throw classifyS3Error(err, { bucket: this.bucket, operation: 'ListObjectsV2' });
    }
  }

  private async deleteObjects(objects: readonly _Object[]): Promise<void> {
    let errors;
    try {
      const out = await this.s3.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: objects.map((o) => ({ Key: o.Key ?? '' })), Quiet: true },
        }),
      );
      errors = out.Errors ?? [];
    } catch (err) {
      throw classifyS3Error(err, { bucket: this.bucket, operation: 'DeleteObjects' });
    }
    const first = errors[0];
    if (first) {
      // Per-key failures come back in a 200: raise the first as if S3 had thrown it, with
      // the count, so the job fails (or retries) with a message a person can act on.
      throw classifyS3Error(
        Object.assign(
          new Error(
            `${first.Message ?? 'delete failed'} (${errors.length} of ${objects.length} keys failed)`,
          ),
          { name: first.Code ?? 'Error', Code: first.Code },
        ),
        { bucket: this.bucket, key: first.Key, operation: 'DeleteObjects' },
      );
    }
  }
}

/** Maps items with at most `limit` calls in flight, keeping their order. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
