import type { ClickHouseClient } from '@clickhouse/client';
import { bytesHex, bytesUint32 } from '../../domain/cidr.js';
import type { IocType } from '../../domain/ioc.js';
import { classifyClickHouseError } from './classify-clickhouse-error.js';
import { clickHouseIdentifier, clickHouseLiteral } from './clickhouse-sql.js';
import { MERGED_COLUMNS, toStoredIoc, type MergedRow } from './clickhouse-hot-store.js';
import { mutationIds, waitForMutations, type MutationWait } from './mutations.js';
import {
  foldStats,
  type IocCount,
  type IocFilter,
  type IocKeyCursor,
  type IocPage,
  type IocSearch,
  type IocStats,
} from '../hot/ioc-search.js';

// ClickHouseHotStore's table of sightings.
const TABLE = 'ioc_sightings';

// The latest sighting's (last_seen_ms, confidence, threat_type): bIsLatest's order.
const LATEST = 'max((last_seen_ms, confidence, threat_type))';

type Int64 = string | number;

/**
 * IocSearch over ClickHouseHotStore's sightings. The filters apply to the merged indicator,
 * so the matching keys are found by aggregating sightings per (type, value) with the
 * filter in HAVING (reading only the columns the filter names), and only the page's keys
 * are then merged whole. 18.16 has no skip indexes outside experimental settings: `type`
 * and the cursor narrow by the primary key, every other filter scans its columns.
 */
export class ClickHouseIocSearch implements IocSearch {
  private readonly database: string;
  private readonly table: string;
  private readonly wait: MutationWait;

  constructor(
    private readonly client: ClickHouseClient,
    options: { database: string; deleteWait?: Partial<MutationWait> },
  ) {
    this.database = clickHouseIdentifier(options.database);
    this.table = `${this.database}.${TABLE}`;
    this.wait = { timeoutMs: 120_000, pollMs: 50, ...options.deleteWait };
  }

  async init(): Promise<void> {
    // Nothing to add: the table's ORDER BY (type, value, sighting_id) is the search's order.
  }

  async search(filter: IocFilter, page: { limit: number; after?: IocKeyCursor }): Promise<IocPage> {
    assertLimit(page.limit);
    const rows = await this.select<MergedRow>(
      `SELECT ${MERGED_COLUMNS} FROM ${this.table}
       WHERE (type, value) IN (${this.matchingKeys(filter, page.after)}
                               ORDER BY type, value
                               LIMIT ${clickHouseLiteral(page.limit + 1)})
       GROUP BY type, value
       ORDER BY type, value`,
    );
    const items = rows.slice(0, page.limit).map(toStoredIoc);
    const last = items.at(-1);
    return rows.length > page.limit && last !== undefined
      ? { items, next: { type: last.type, value: last.value } }
      : { items };
  }

  async count(filter: IocFilter, cap: number): Promise<IocCount> {
    assertLimit(cap);
    const [row] = await this.select<{ n: Int64 }>(
      `SELECT count() AS n FROM (${this.matchingKeys(filter)} LIMIT ${clickHouseLiteral(cap + 1)})`,
    );
    const n = Number(row?.n ?? 0);
    return n > cap ? { count: cap, capped: true } : { count: n, capped: false };
  }

  async stats(): Promise<IocStats> {
    const rows = await this.select<{ type: string; tt: string; bucket: Int64; n: Int64 }>(
      `SELECT type, tupleElement(latest, 3) AS tt,
              least(9, greatest(0, floor(tupleElement(latest, 2) * 10))) AS bucket,
              count() AS n
       FROM (SELECT type, value, ${LATEST} AS latest FROM ${this.table} GROUP BY type, value)
       GROUP BY type, tt, bucket`,
    );
    return foldStats(
      rows.map((r) => ({
        type: r.type,
        threat_type: r.tt,
        bucket: Number(r.bucket),
        n: Number(r.n),
      })),
    );
  }

  async delete(type: IocType, value: string): Promise<boolean> {
    const key = `type = ${clickHouseLiteral(type)} AND value = ${clickHouseLiteral(value)}`;
    const [row] = await this.select<{ n: Int64 }>(
      `SELECT count() AS n FROM ${this.table} WHERE ${key}`,
    );
    if (Number(row?.n ?? 0) === 0) return false;
    const before = await mutationIds(this.client, { database: this.database, table: TABLE });
    // A mutation takes the sightings in the parts that exist now; one inserted after it
    // survives (a sighting after the delete is a new indicator, as in PostgreSQL).
    await this.run(() =>
      this.client.command({ query: `ALTER TABLE ${this.table} DELETE WHERE ${key}` }),
    );
    // Asynchronous on 18.16 (no mutations_sync): the caller evicts the cache after this
    // returns, so it returns only when reads no longer see the indicator.
    await waitForMutations(
      this.client,
      { database: this.database, table: TABLE },
      before,
      this.wait,
    );
    return true;
  }

  /**
   * `SELECT type, value` of the indicators matching the filter (after the cursor), one per
   * key. Conditions on the key go in WHERE (the primary key narrows them); conditions on the
   * merged row go in HAVING. The latest sighting alone satisfies every condition on
   * threat_type, confidence and last_seen, and some sighting has the tag or source asked
   * for, so INs narrow the keys the aggregate groups to those with such sightings (each IN
   * reads only the columns it tests).
   */
  private matchingKeys(filter: IocFilter, after?: IocKeyCursor): string {
    const keyWhere: string[] = [];
    if (filter.type !== undefined) keyWhere.push(`type = ${clickHouseLiteral(filter.type)}`);
    if (filter.cidr !== undefined) {
      const { family, first, last } = filter.cidr;
      keyWhere.push(
        family === 4
          ? `type = 'ipv4' AND IPv4StringToNum(value) >= ${clickHouseLiteral(bytesUint32(first))}
             AND IPv4StringToNum(value) <= ${clickHouseLiteral(bytesUint32(last))}`
          : `type = 'ipv6' AND hex(IPv6StringToNum(value)) >= ${clickHouseLiteral(bytesHex(first))}
             AND hex(IPv6StringToNum(value)) <= ${clickHouseLiteral(bytesHex(last))}`,
      );
    }
    if (after !== undefined) {
      // The expanded form: 18.16 narrows it by the primary key, not a tuple comparison.
      keyWhere.push(
        `(type > ${clickHouseLiteral(after.type)}
          OR (type = ${clickHouseLiteral(after.type)} AND value > ${clickHouseLiteral(after.value)}))`,
      );
    }
    const latest: string[] = [];
    const having: string[] = [];
    if (filter.threatType !== undefined) {
      const v = clickHouseLiteral(filter.threatType);
      latest.push(`threat_type = ${v}`);
      having.push(`tupleElement(${LATEST}, 3) = ${v}`);
    }
    if (filter.minConfidence !== undefined) {
      const v = clickHouseLiteral(filter.minConfidence);
      latest.push(`confidence >= ${v}`);
      having.push(`tupleElement(${LATEST}, 2) >= ${v}`);
    }
    if (filter.maxConfidence !== undefined) {
      const v = clickHouseLiteral(filter.maxConfidence);
      latest.push(`confidence <= ${v}`);
      having.push(`tupleElement(${LATEST}, 2) <= ${v}`);
    }
    if (filter.seenSince !== undefined) {
      const v = clickHouseLiteral(filter.seenSince.getTime());
      latest.push(`last_seen_ms >= ${v}`);
      having.push(`max(last_seen_ms) >= ${v}`);
    }
    if (filter.seenUntil !== undefined) {
      const v = clickHouseLiteral(filter.seenUntil.getTime());
      latest.push(`last_seen_ms < ${v}`);
      having.push(`max(last_seen_ms) < ${v}`);
    }
    if (filter.source !== undefined) {
      having.push(`max(has(sources, ${clickHouseLiteral(filter.source)})) = 1`);
    }
    if (filter.tag !== undefined) {
      having.push(`max(has(tags, ${clickHouseLiteral(filter.tag)})) = 1`);
    }
    // Keys with a sighting satisfying each group: the latest sighting satisfies all of
    // `latest`; a tag or source is in the union when one sighting has it.
    const narrowing: string[][] = latest.length > 0 ? [latest] : [];
    if (filter.source !== undefined) {
      narrowing.push([`has(sources, ${clickHouseLiteral(filter.source)})`]);
    }
    if (filter.tag !== undefined) narrowing.push([`has(tags, ${clickHouseLiteral(filter.tag)})`]);
    const where = [...keyWhere];
    for (const group of narrowing) {
      where.push(
        `(type, value) IN (SELECT type, value FROM ${this.table}
                           WHERE ${[...keyWhere, ...group].join(' AND ')})`,
      );
    }
    return `SELECT type, value FROM ${this.table}
            ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`}
            GROUP BY type, value
            ${having.length === 0 ? '' : `HAVING ${having.join(' AND ')}`}`;
  }

  private async select<T>(query: string): Promise<T[]> {
    return this.run(async () => {
      const result = await this.client.query({ query, format: 'JSONEachRow' });
      return result.json<T>();
    });
  }

  private async run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw classifyClickHouseError(err);
    }
  }
}

function assertLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new RangeError(`limit must be a positive integer, got ${limit}`);
  }
}
