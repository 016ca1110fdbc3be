import type { StoredRecord } from '../../src/domain/storage-record.js';
import { NotFoundError } from '../../src/errors/index.js';
import type { RecordStore } from '../../src/stores/hot/record-store.js';
import type { ArchivedRecordReader } from '../../src/stores/s3/archived-record-reader.js';

/** A record and the tier it was read from. */
export interface RecordRead {
  tier: 'hot' | 'archive';
  record: StoredRecord;
}

/**
 * Seed 002's retrieve_record: the hot store first, then the archive through the record index
 * (one indexed query, one object, the record's line, its digest checked). A NotFoundError
 * when neither has it.
 */
export async function getStorageRecord(
  input: { id: string },
  deps: {
    records: Pick<RecordStore, 'get'>;
    archivedRecords: Pick<ArchivedRecordReader, 'find'>;
  },
): Promise<RecordRead> {
  const hot = await deps.records.get(input.id);
  if (hot !== undefined) return { tier: 'hot', record: hot.record };
  const archived = await deps.archivedRecords.find(input.id);
  if (archived !== undefined) return { tier: 'archive', record: archived };
  throw new NotFoundError(`no record "${input.id}"`, { id: input.id }, [
    { path: 'id', message: 'no such record' },
  ]);
}
