import type { IocType, StoredIoc } from '../../domain/ioc.js';
import type { Cidr } from '../../domain/cidr.js';

/**
 * What a search matches, every field optional and all of them ANDed. Each applies to the
 * merged indicator (as `HotStore.get` returns it): threat type and confidence of the latest
 * sighting, a source or tag of any sighting, last_seen the latest.
 */
export interface IocFilter {
  type?: IocType;
  threatType?: string;
  /** Confidence at or above (0..1). */
  minConfidence?: number;
  /** Confidence at or below (0..1). */
  maxConfidence?: number;
  source?: string;
  tag?: string;
  /** IPs (ipv4/ipv6 indicators) inside this network. */
  cidr?: Cidr;
  /** last_seen at or after. */
  seenSince?: Date;
  /** last_seen before. */
  seenUntil?: Date;
}

/** A position in the (type, value) order: a page starts after it. */
export interface IocKeyCursor {
  type: IocType;
  value: string;
}

/** One page of a search. */
export interface IocPage {
  items: StoredIoc[];
  /** Where the next page starts; absent on the last page. */
  next?: IocKeyCursor;
}

/** How many indicators match, counted up to a cap. */
export interface IocCount {
  /** min(matching, cap). */
  count: number;
  /** True when more than `cap` match (count is then the cap). */
  capped: boolean;
}

/** The store's indicators by type, threat type and confidence. */
export interface IocStats {
  total: number;
  byType: Record<string, number>;
  byThreatType: Record<string, number>;
  /** Ten buckets of confidence: [0, 0.1), [0.1, 0.2), …, [0.9, 1.0]. */
  byConfidence: number[];
}

/**
 * Filtered, paged reads of the hot IOC store and the delete of one indicator, next to
 * HotStore over the same table. Pages are in (type, value) byte order, the immutable key:
 * an indicator merged or updated between two pages keeps its place, so a walk never
 * returns it twice nor skips it while it keeps matching. Implementations:
 * PostgresIocSearch and ClickHouseIocSearch.
 */
export interface IocSearch {
  /** Creates the indexes the filters use when missing (`stowage init`). */
  init(): Promise<void>;
  /**
   * Up to `limit` matching indicators after `after`, in key order. A page may hold fewer
   * than limit and still have a next one (ClickHouse bounds the work of one page); the walk
   * ends when `next` is absent.
   */
  search(filter: IocFilter, page: { limit: number; after?: IocKeyCursor }): Promise<IocPage>;
  /** Counts matching indicators, reading at most about `cap` of them. */
  count(filter: IocFilter, cap: number): Promise<IocCount>;
  /** Counts per type, threat type and confidence bucket (one pass over the store). */
  stats(): Promise<IocStats>;
  /** Deletes an indicator (every sighting of it); false when the store did not hold it. */
  delete(type: IocType, value: string): Promise<boolean>;
}

/** The bucket (0..9) of a confidence in IocStats.byConfidence. */
export function confidenceBucket(confidence: number): number {
  return Math.min(9, Math.max(0, Math.floor(confidence * 10)));
}

/** Folds rows grouped by (type, threat_type, bucket) into IocStats. */
export function foldStats(
  rows: readonly { type: string; threat_type: string; bucket: number; n: number }[],
): IocStats {
  const stats: IocStats = {
    total: 0,
    byType: {},
    byThreatType: {},
    byConfidence: Array(10).fill(0) as number[],
  };
  for (const row of rows) {
    stats.total += row.n;
    stats.byType[row.type] = (stats.byType[row.type] ?? 0) + row.n;
    stats.byThreatType[row.threat_type] = (stats.byThreatType[row.threat_type] ?? 0) + row.n;
    const bucket = Math.min(9, Math.max(0, row.bucket));
    stats.byConfidence[bucket] = (stats.byConfidence[bucket] ?? 0) + row.n;
  }
  return stats;
}
