import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { retentionEnd } from '../../src/domain/archive.js';
import {
  canonicalRecord,
  canonicalRecordBatch,
  recordArchiveKey,
  type CanonicalRecord,
  type StoredRecord,
} from '../../src/domain/storage-record.js';
import type { RecordStore } from '../../src/stores/hot/record-store.js';
import type { PostgresBatchStore } from '../../src/stores/postgres/batch-store.js';
import type { RecordIndex, RecordLocation } from '../../src/stores/postgres/record-index.js';
import type { WormArchive } from '../../src/stores/s3/worm-archive.js';
import type { ArchiveLockSettings } from '../archive-lock/handler.js';
import type { Handler } from '../job-definition.js';
import type { recordsInsertJob } from './definition.js';

/** What records.insert needs. */
export interface RecordsInsertDeps {
  records: Pick<RecordStore, 'insert'>;
  index: Pick<RecordIndex, 'find' | 'add'>;
  archive: Pick<WormArchive, 'bucket' | 'assertObjectLock' | 'putLocked' | 'findReusable'>;
  /** Where producers staged the batches (the job carries a digest). */
  batches: Pick<PostgresBatchStore, 'load'>;
  /** How archive objects are locked and encrypted (ARCHIVE_LOCK_MODE, ARCHIVE_RETENTION_YEARS, ARCHIVE_SSE…). */
  settings: Pick<ArchiveLockSettings, 'lockMode' | 'retentionYears' | 'sse' | 'kmsKeyId'>;
  /** The clock; the system's by default. */
  now?: () => Date;
}

/** What a records.insert job did. */
export interface RecordsInsertResult {
  received: number;
  /** Records this job archived and indexed (first writes). */
  stored: number;
  /** Records stored already with the same content: nothing written for them. */
  unchanged: number;
  /** Records whose id is stored already with other content: refused, the first write kept. */
  conflicts: number;
  /** The first of the conflicting ids. */
  conflict_ids: string[];
  /** Hot rows written (a retry writes those a crashed run did not). */
  hot_written: number;
  /** The archive object of this job's first writes; null when it had none. */
  object_key: string | null;
  /** True when that object was there already (a retry of a run that wrote it). */
  reused_object: boolean;
}

const CONFLICT_IDS_SHOWN = 20;

/**
 * Stores a batch: the records not indexed yet go into one gzip NDJSON object under Object
 * Lock (content-addressed key, verified), then into the index (the first write of an id
 * wins), then every record the index holds with this content into the hot store. The order
 * makes a crash anywhere harmless: a retry finds the same object (same key, reused), the
 * index rows already there (a no-op) and writes only the missing hot rows, so each record
 * ends with one index row and one hot row. An id indexed with other content is refused.
 */
export function createRecordsInsertHandler(
  deps: RecordsInsertDeps,
): Handler<typeof recordsInsertJob, RecordsInsertResult> {
  const now = deps.now ?? (() => new Date());
  return async (payload, ctx) => {
    const stored: StoredRecord[] =
      'batch' in payload
        ? (JSON.parse(await deps.batches.load(ctx.jobId, payload.batch)) as StoredRecord[])
        : canonicalRecordBatch(payload.records);
    const batch = stored.map(canonicalRecord);
    const ids = batch.map((r) => r.record.id);

    const indexed = await deps.index.find(ids);
    const fresh = batch.filter((r) => !indexed.has(r.record.id));
    let objectKey: string | null = null;
    let reused = false;
    let added = new Set<string>();
    if (fresh.length > 0) {
      const written = await archiveBatch(deps, now(), fresh);
      objectKey = written.key;
      reused = written.reused;
      added = await deps.index.add(written.rows);
      // Ids another job indexed between the look-up and the insert: compare with theirs.
      const lost = fresh.filter((r) => !added.has(r.record.id)).map((r) => r.record.id);
      for (const [id, location] of await deps.index.find(lost)) indexed.set(id, location);
    }

    const owned: CanonicalRecord[] = [];
    const conflictIds: string[] = [];
    for (const r of batch) {
      const location = indexed.get(r.record.id);
      if (added.has(r.record.id) || location?.digest === r.digest) owned.push(r);
      else conflictIds.push(r.record.id);
    }
    if (conflictIds.length > 0) {
      ctx.log.warn(
        { conflicts: conflictIds.length, ids: conflictIds.slice(0, CONFLICT_IDS_SHOWN) },
        'records refused: their ids are stored with other content (the first write is kept)',
      );
    }
    const { written } = await deps.records.insert(owned);
    ctx.metrics.rowsInserted(written);
    await ctx.progress(100);
    const result: RecordsInsertResult = {
      received: batch.length,
      stored: added.size,
      unchanged: owned.length - added.size,
      conflicts: conflictIds.length,
      conflict_ids: conflictIds.slice(0, CONFLICT_IDS_SHOWN),
      hot_written: written,
      object_key: objectKey,
      reused_object: reused,
    };
    ctx.log.info(result, 'records stored');
    return result;
  };
}

/** Writes (or finds, from a crashed run) the locked object of a batch's first writes. */
async function archiveBatch(
  deps: RecordsInsertDeps,
  at: Date,
  fresh: readonly CanonicalRecord[],
): Promise<{ key: string; reused: boolean; rows: RecordLocation[] }> {
  const { archive, settings } = deps;
  const ndjson = fresh.map((r) => `${r.line}\n`).join('');
  const ndjsonSha256 = createHash('sha256').update(ndjson).digest('hex');
  const earliest = fresh.reduce(
    (min, r) => (r.record.timestamp < min ? r.record.timestamp : min),
    fresh[0]?.record.timestamp ?? at.toISOString(),
  );
  const key = recordArchiveKey(earliest, ndjsonSha256);
  const policy = { mode: settings.lockMode, sse: settings.sse, kmsKeyId: settings.kmsKeyId };
  const metadata = { 'ndjson-sha256': ndjsonSha256, rows: String(fresh.length) };
  // Same key, same lines: an object a crashed run wrote stands for this one (no new version).
  const found = await archive.findReusable(key, {
    ...policy,
    metadata,
    retentionYears: settings.retentionYears,
  });
  let object = found;
  if (object === undefined) {
    // A bucket without Object Lock fails the job here, before anything is written.
    await archive.assertObjectLock();
    object = await archive.putLocked(key, gzipSync(ndjson), {
      ...policy,
      retainUntil: retentionEnd(at, settings.retentionYears),
      contentType: 'application/gzip',
      metadata: { ...metadata, 'archive-kind': 'records' },
    });
  }
  const versionId = object.versionId;
  return {
    key,
    reused: found !== undefined,
    rows: fresh.map((r, line) => ({
      id: r.record.id,
      bucket: archive.bucket,
      object_key: key,
      version_id: versionId,
      line,
      digest: r.digest,
    })),
  };
}
