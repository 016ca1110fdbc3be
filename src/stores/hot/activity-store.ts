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
  /** How many events are stored (tests, benchmarks). */
  count(): Promise<number>;
}
