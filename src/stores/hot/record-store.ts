import type { CanonicalRecord, StoredRecord } from '../../domain/storage-record.js';

/** A hot record past a cutoff, as retention pages through them (oldest first). */
export interface ExpiredRecord {
  id: string;
  /** ISO 8601 UTC. */
  timestamp: string;
}

/** Where a page of expired records ends: the last one's (timestamp, id). */
export type RecordPosition = ExpiredRecord;

/**
 * Seed 002's hot storage of records over the hot backend (HOT_STORE): one row per id, the
 * first write kept, read by id; retention deletes rows past the hot window. The archive and
 * its index are the record of truth: a hot row is written only after its index row.
 */
export interface RecordStore {
  readonly backend: 'postgres' | 'clickhouse';
  /** Creates the table when missing. DDL: `stowage init` only. */
  init(): Promise<void>;
  /** Inserts records whose id is not stored yet; `written` counts those inserted. */
  insert(records: readonly CanonicalRecord[]): Promise<{ written: number }>;
  /** One record and its digest, or undefined when the hot store has none. */
  get(id: string): Promise<{ record: StoredRecord; digest: string } | undefined>;
  /** At most `limit` records with a timestamp before `cutoff`, after `after`, oldest first. */
  expired(cutoff: Date, limit: number, after?: RecordPosition): Promise<ExpiredRecord[]>;
  /** Deletes the rows of these ids; the number of ids deleted. */
  delete(ids: readonly string[]): Promise<number>;
  /** How many records are stored (tests, benchmarks). */
  count(): Promise<number>;
  /** How many physical rows hold an id (tests: a retried insert must leave one). */
  rowsOf(id: string): Promise<number>;
}
