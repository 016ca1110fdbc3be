import type { HotRule, IocType, StoredIoc } from '../../domain/ioc.js';
import type { StagedBatch } from '../../domain/staged-batch.js';
import type { HotBackendName } from '../../config.js';

/** What an upsert changed. */
export interface UpsertResult {
  /** Records written after merging duplicates within the batch. */
  written: number;
  /**
   * The rows as this upsert left them, for the keys it inserted or changed (a key it did
   * not change is absent), when the store can say so without another read; the cache sync
   * then reads only the absent keys.
   */
  changed?: StoredIoc[];
}

/** What a staged merge changed, as the cache needs it. */
export interface StagedChanges {
  /** Rows the merge inserted or changed that are hot, as they now are. */
  hot: StoredIoc[];
  /** Keys of existing rows the merge changed that are not hot (a cached copy must go). */
  cooled: { type: IocType; value: string }[];
}

/** How a staged merge is applied. */
export interface StagedMergeOptions {
  hotRule: HotRule;
  /** The time hotness is judged at. */
  now: Date;
  /** Runs before the merge commits, with the rows it changed; throwing rolls it back. */
  beforeCommit(changes: StagedChanges): Promise<void>;
  /** Runs, best effort, when the merge rolled back after beforeCommit ran. */
  afterRollback?(changes: StagedChanges): Promise<void>;
  /**
   * Stops the merge (a job cancelled or past its maximum duration): its running statement is
   * cancelled and it rolls back, so no transaction is left behind to commit after the job ended.
   */
  signal?: AbortSignal | undefined;
}

/** A UTC day of last_seen and how many indicators were last seen on it. */
export interface WindowDay {
  /** 'YYYY-MM-DD' (UTC). */
  day: string;
  rows: number;
  /**
   * The newest row version on the day (decimal): PostgreSQL's row version, ClickHouse's
   * latest insert time (Unix seconds) of a sighting. A day whose version is above its
   * archive's high-water mark changed since that archive.
   */
  version: string;
}

/**
 * The hot IOC store: one row per (type, value), every sighting merged by `mergeIoc`'s rules.
 * Implementations: PostgresHotStore and ClickHouseHotStore (HOT_STORE selects one).
 */
export interface HotStore {
  readonly backend: HotBackendName;
  /** Creates the schema when missing; safe to call on every start. */
  init(): Promise<void>;
  /** Upserts a batch (already merged per key): replaying it changes nothing. */
  upsert(batch: readonly StoredIoc[]): Promise<UpsertResult>;
  /**
   * Merges a batch staged in the batch store without it passing through this process, when
   * the store can (PostgreSQL: the same database); see PostgresHotStore.mergeStaged.
   */
  mergeStaged?(
    jobId: string,
    batch: StagedBatch,
    options: StagedMergeOptions,
  ): Promise<{ written: number }>;
  /** One indicator, merged, or undefined. */
  get(type: IocType, value: string): Promise<StoredIoc | undefined>;
  /** Several indicators in one round trip, merged; absent keys are left out. */
  getMany(keys: readonly { type: IocType; value: string }[]): Promise<StoredIoc[]>;
  /** Indicators at or above a confidence, seen since a time, newest first, at most limit. */
  findHot(options: { minConfidence: number; since: Date; limit: number }): Promise<StoredIoc[]>;
  /** How many distinct indicators the store holds. */
  count(): Promise<number>;
  /**
   * Indicators (merged, as `get` returns them) whose last_seen is in [from, to), in
   * (type, value) byte order, at most batchSize per batch, paged by keyset so that the
   * window is never in memory at once. Batches are never empty.
   */
  streamWindow(from: Date, to: Date, batchSize: number): AsyncIterable<StoredIoc[]>;
  /** The UTC days of last_seen holding indicators last seen in [from, before), oldest first. */
  windowDays(before: Date, from?: Date): Promise<WindowDay[]>;
  /**
   * A high-water mark of row versions (decimal) for an archive about to read: every row
   * version at or below it is committed and visible to reads that start after this returns,
   * and every later insert or change gets a version above it. Waits for the writes in
   * flight (a transient error when they do not end within timeoutMs).
   */
  versionHighWater(options?: { timeoutMs?: number }): Promise<string>;
}
