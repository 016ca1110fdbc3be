import type { ActivityEventType, ActivitySource, StoredActivity } from '../../domain/activity.js';
import type { StagedBatch } from '../../domain/staged-batch.js';

/** Where a page of a search ends: the last event's (timestamp, event_id, source). */
export interface ActivityPosition {
  timestamp: string;
  event_id: string;
  source: string;
}

/** A bounded search: a time window [start, end), optional filters, a page after a position. */
export interface ActivityQuery {
  start: Date;
  end: Date;
  source?: ActivitySource | undefined;
  event_type?: ActivityEventType | undefined;
  /** Only events ordered after this one (the cursor of the previous page). */
  after?: ActivityPosition | undefined;
  limit: number;
}

/** How many events of one source and type a window holds. */
export interface ActivityCount {
  source: string;
  event_type: string;
  count: number;
}

/** A day partition and how many events (distinct identities) it holds. */
export interface ActivityDay {
  day: string;
  rows: number;
}

/** What retireDay found and did. */
export interface RetiredActivityDay {
  day: string;
  /** Events the partition held, counted under the lock (0 when it had none or was gone). */
  rows: number;
  dropped: boolean;
}

/**
 * The activity event store over the hot backend (HOT_STORE): append-only telemetry, one
 * event per (source, timestamp, event_id), the first write kept; partitioned by UTC day.
 */
export interface ActivityStore {
  readonly backend: 'postgres' | 'clickhouse';
  /** Creates the table when missing. DDL: `stowage init` only. */
  init(): Promise<void>;
  /** Inserts events whose identity is not stored yet; `written` counts those inserted. */
  insert(records: readonly StoredActivity[]): Promise<{ written: number }>;
  /**
   * Inserts a staged batch, read from the batch store inside the insert's transaction
   * (PostgreSQL only: the database reads the batch it inserts).
   */
  insertStaged?(jobId: string, batch: StagedBatch): Promise<{ written: number }>;
  /** At most `limit` events of the window, ordered by (timestamp, event_id, source). */
  search(query: ActivityQuery): Promise<StoredActivity[]>;
  /** Event counts per source and type in [start, end). */
  stats(window: { start: Date; end: Date }): Promise<ActivityCount[]>;
  /** The UTC days (`YYYY-MM-DD`) that have a partition, oldest first. */
  days(): Promise<string[]>;
  /**
   * The days with a partition before `before` ('YYYY-MM-DD', exclusive), oldest first, each
   * with the events it holds.
   */
  dayCounts(before: string): Promise<ActivityDay[]>;
  /**
   * Drops a day's partition when it holds exactly `expectedRows` events (null: whatever it
   * holds), counted under a lock that keeps inserts into the day out until the drop, so an
   * event arriving meanwhile is never dropped uncounted. `beforeDrop` runs once the count
   * matched, before the drop (a failure there drops nothing). Otherwise nothing changes.
   */
  retireDay(
    day: string,
    expectedRows: number | null,
    beforeDrop: (rows: number) => Promise<void>,
  ): Promise<RetiredActivityDay>;
  /** How many events are stored (tests, benchmarks). */
  count(): Promise<number>;
}
