import { randomBytes } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { UTC_DAY_MS } from '../../domain/utc-day.js';
import { TransientError } from '../../errors/index.js';
import { classifyClickHouseError } from './classify-clickhouse-error.js';
import { clickHouseLiteral, chunkByLength } from './clickhouse-sql.js';

// ClickHouseHotStore's table of sightings and the columns an insert gives (the rest are
// MATERIALIZED: last_seen, first_seen, inserted_at).
const TABLE = 'ioc_sightings';
const COLUMNS =
  'type, value, threat_type, confidence, sources, tags, first_seen_ms, last_seen_ms, sighting_id';
const JOURNAL_COLUMNS = `type String, value String, threat_type String, confidence Float64,
  sources Array(String), tags Array(String), first_seen_ms Int64, last_seen_ms Int64,
  sighting_id String`;
const JOURNAL_PREFIX = `${TABLE}_journal_`;

// A journal older than this belongs to a run that died: its rows go back into the table.
// A live run gives up its drop long before (DROP_DEADLINE_MS), so the two never meet.
const STALE_JOURNAL_MS = 3_600_000;
const DROP_DEADLINE_MS = 1_800_000;

// Inlined key text per ALTER, under the default max_query_size of 256 KiB (bytes).
const MAX_INLINED_CHARS = 60_000;

// Days whose last_seen maps one to one onto their partition: last_seen (DateTime) clamps
// times before 1970 onto 1970-01-01 and after 2106-02-07 06:28:15 onto that day.
const FIRST_DROPPABLE_DAY = 1;
const LAST_DROPPABLE_DAY = 49_709;

type Int64 = string | number;

/** What dropping one day removed, or why it did not. */
export type DayDropResult =
  | { dropped: true; rows: number; oldest: Date | null; newest: Date | null }
  | { dropped: false; reason: 'kept_rows' | 'out_of_range' | 'deadline' };

/** Runs an `ALTER TABLE … DELETE` and waits until it is done. */
export type RunMutation = (query: string) => Promise<void>;

/**
 * Retention of one whole UTC day by `ALTER TABLE … DROP PARTITION` (the table is
 * partitioned by toYYYYMMDD(last_seen)), with the semantics of the per-indicator deletes:
 *
 * - An indicator with a sighting on the day but a later latest sighting (a mover) keeps
 *   everything: first, one `INSERT … SELECT` adds its merged row as one sighting, which
 *   lands in its own day's partition (content-addressed, so a rerun adds nothing new).
 * - An indicator of the day that the archive does not hold as it is (changed since) would
 *   be lost with the partition: then the day is not dropped at all (the caller deletes it
 *   by mutations), and the next archive generation makes it droppable.
 * - An indicator of the day with sightings in older partitions (a day not archived or not
 *   dropped) would come back partial: those sightings are deleted by a mutation first.
 * - A sighting inserted into the day while this runs must survive: a materialized view
 *   journals every insert into the day from before the indicators are read until after
 *   the drop, and the journal goes back into the table once the partition is gone. Its
 *   rows are newer than any archive of the day (inserted after the mark), so they are
 *   exactly what per-indicator deletes would have kept too.
 */
export class ClickHouseDayDrop {
  private readonly table: string;

  constructor(
    private readonly client: ClickHouseClient,
    private readonly database: string,
    private readonly runMutation: RunMutation,
    private readonly options: {
      insertWaitMs?: number;
      /** Runs right before the partition is dropped (a test seam for a racing insert). */
      beforeDrop?: () => Promise<void>;
    } = {},
  ) {
    this.table = `${database}.${TABLE}`;
  }

  /** Whether the table is partitioned by day (a table of an older Stowage is not). */
  async partitioned(): Promise<boolean> {
    const [row] = await this.select<{ key: string }>(
      `SELECT partition_key AS key FROM system.tables
       WHERE database = ${clickHouseLiteral(this.database)} AND name = ${clickHouseLiteral(TABLE)}`,
    );
    return (row?.key ?? '') !== '';
  }

  /** UTC day numbers of the partitions that exist and end by the cutoff, oldest first. */
  async daysBefore(cutoff: Date): Promise<number[]> {
    const rows = await this.select<{ partition: string }>(
      `SELECT DISTINCT partition FROM system.parts
       WHERE database = ${clickHouseLiteral(this.database)}
         AND table = ${clickHouseLiteral(TABLE)} AND active`,
    );
    const days: number[] = [];
    for (const { partition } of rows) {
      // An unpartitioned table's one partition is 'tuple()'.
      const m = /^(\d{4})(\d{2})(\d{2})$/.exec(partition);
      if (!m) continue;
      const n = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / UTC_DAY_MS;
      if ((n + 1) * UTC_DAY_MS <= cutoff.getTime()) days.push(n);
    }
    return days.sort((a, b) => a - b);
  }

  /** Restores and removes journals left by a run that died (process killed mid-drop). */
  async recover(): Promise<void> {
    await this.recoverStaleJournals();
  }

  /**
   * Drops the partition of UTC day `dayNumber` when every indicator whose latest sighting
   * is on it may go (highWater: the day's archive mark; null: archiving off, all may go).
   */
  async drop(dayNumber: number, highWater: string | null): Promise<DayDropResult> {
    if (dayNumber < FIRST_DROPPABLE_DAY || dayNumber > LAST_DROPPABLE_DAY) {
      return { dropped: false, reason: 'out_of_range' };
    }
    const started = Date.now();
    const from = dayNumber * UTC_DAY_MS;
    const to = from + UTC_DAY_MS;
    const inDay = `last_seen_ms >= ${clickHouseLiteral(from)} AND last_seen_ms < ${clickHouseLiteral(to)}`;
    const journal = `${this.database}.${JOURNAL_PREFIX}${started}_${randomBytes(4).toString('hex')}`;
    const view = `${journal}_mv`;
    await this.command(
      `CREATE TABLE ${journal} (${JOURNAL_COLUMNS}) ENGINE = MergeTree ORDER BY tuple()`,
    );
    let dropped = false;
    try {
      await this.command(
        `CREATE MATERIALIZED VIEW ${view} TO ${journal}
         AS SELECT ${COLUMNS} FROM ${this.table} WHERE ${inDay}`,
      );
      // An insert that began before the view existed does not write to it: once those
      // have ended, every sighting is either visible to the reads below or journaled.
      await this.waitForInserts();

      const version =
        highWater === null ? '1' : `max_inserted <= ${clickHouseLiteral(Number(highWater))}`;
      const touched = `(type, value) IN (SELECT type, value FROM ${this.table} WHERE ${inDay})`;
      const [counts] = await this.select<{
        of_day: Int64;
        deletable: Int64;
        older: Int64;
        movers: Int64;
        oldest_ms: Int64;
        newest_ms: Int64;
      }>(
        `SELECT countIf(max_ms < ${clickHouseLiteral(to)}) AS of_day,
                countIf(max_ms < ${clickHouseLiteral(to)} AND ${version}) AS deletable,
                countIf(min_ms < ${clickHouseLiteral(from)} AND max_ms < ${clickHouseLiteral(to)}) AS older,
                countIf(max_ms >= ${clickHouseLiteral(to)}) AS movers,
                minIf(max_ms, max_ms < ${clickHouseLiteral(to)}) AS oldest_ms,
                maxIf(max_ms, max_ms < ${clickHouseLiteral(to)}) AS newest_ms
         FROM (
           SELECT max(last_seen_ms) AS max_ms, min(last_seen_ms) AS min_ms,
                  max(toUInt32(inserted_at)) AS max_inserted
           FROM ${this.table} WHERE ${touched}
           GROUP BY type, value)`,
      );
      const ofDay = Number(counts?.of_day ?? 0);
      const deletable = Number(counts?.deletable ?? 0);
      if (ofDay !== deletable) return { dropped: false, reason: 'kept_rows' };

      // Movers keep everything: their merged row goes into their own (later) day first.
      if (Number(counts?.movers ?? 0) > 0) await this.carryMovers(touched, to);

      // Older sightings of the day's indicators, in partitions that stay.
      if (Number(counts?.older ?? 0) > 0) await this.deleteOlder(from, to, touched, highWater);

      if (Date.now() - started > DROP_DEADLINE_MS || !(await this.exists(view))) {
        return { dropped: false, reason: 'deadline' };
      }
      await this.options.beforeDrop?.();
      await this.command(`ALTER TABLE ${this.table} DROP PARTITION ${dayPartition(dayNumber)}`);
      dropped = true;
      return {
        dropped: true,
        rows: deletable,
        oldest: deletable > 0 ? new Date(Number(counts?.oldest_ms)) : null,
        newest: deletable > 0 ? new Date(Number(counts?.newest_ms)) : null,
      };
    } finally {
      // Also when the drop did not happen: the journal then only holds copies.
      await this.restore(journal, view, dropped);
    }
  }

  /**
   * Adds the merged row of every mover (an indicator with a sighting on the day and a
   * later latest one) as one more sighting, which lands in its own day's partition, with
   * the version of what it merges (so the archive of that day still holds it as it is).
   * Content-addressed: a rerun adds an identical row, which collapses.
   */
  private async carryMovers(touched: string, to: number): Promise<void> {
    await this.command(
      `INSERT INTO ${this.table} (${COLUMNS}, carried_version)
         SELECT type, value, latest_threat_type, latest_confidence, all_sources, all_tags,
                min_first_ms, max_last_ms,
                lower(hex(MD5(concat('carried', '\\0', type, '\\0', value, '\\0',
                  latest_threat_type, '\\0', toString(latest_confidence), '\\0',
                  toString(all_sources), '\\0', toString(all_tags), '\\0',
                  toString(min_first_ms), '\\0', toString(max_last_ms), '\\0',
                  toString(max_inserted))))),
                max_inserted
         FROM (
           SELECT type, value,
                  max((last_seen_ms, confidence, threat_type)) AS latest,
                  tupleElement(latest, 2) AS latest_confidence,
                  tupleElement(latest, 3) AS latest_threat_type,
                  min(first_seen_ms) AS min_first_ms,
                  max(last_seen_ms) AS max_last_ms,
                  arraySort(groupUniqArrayArray(sources)) AS all_sources,
                  arraySort(groupUniqArrayArray(tags)) AS all_tags,
                  max(toUInt32(inserted_at)) AS max_inserted
           FROM ${this.table} WHERE ${touched}
           GROUP BY type, value
           HAVING max_last_ms >= ${clickHouseLiteral(to)})`,
    );
  }

  /** Deletes the older sightings of the day's deletable indicators (a mutation, rare). */
  private async deleteOlder(
    from: number,
    to: number,
    touched: string,
    highWater: string | null,
  ): Promise<void> {
    const mark = highWater === null ? null : clickHouseLiteral(Number(highWater));
    const keys = await this.select<{ type: string; value: string; max_inserted: Int64 }>(
      `SELECT type, value, max(last_seen_ms) AS max_ms, min(last_seen_ms) AS min_ms,
              max(toUInt32(inserted_at)) AS max_inserted
       FROM ${this.table} WHERE ${touched}
       GROUP BY type, value
       HAVING max_ms < ${clickHouseLiteral(to)} AND min_ms < ${clickHouseLiteral(from)}
              ${mark === null ? '' : `AND max_inserted <= ${mark}`}`,
    );
    // Only what the archive holds (inserted by the mark): a sighting inserted since
    // survives, as it would with per-indicator deletes.
    const versionTest = mark === null ? '' : ` AND toUInt32(inserted_at) <= ${mark}`;
    for (const chunk of chunkByLength(
      keys.map((k) => `(${clickHouseLiteral(k.type)}, ${clickHouseLiteral(k.value)})`),
      MAX_INLINED_CHARS,
    )) {
      await this.runMutation(
        `ALTER TABLE ${this.table} DELETE
         WHERE last_seen_ms < ${clickHouseLiteral(from)}${versionTest}
           AND (type, value) IN (${chunk.join(', ')})`,
      );
    }
  }

  /**
   * Stops journaling, waits for the inserts that may still write to the journal, puts its
   * rows back (after a drop they are the sightings that arrived meanwhile; identical
   * copies of sightings still there collapse) and drops it.
   */
  private async restore(journal: string, view: string, dropped: boolean): Promise<void> {
    await this.command(`DROP TABLE IF EXISTS ${view}`);
    if (dropped) {
      await this.waitForInserts();
      await this.command(
        `INSERT INTO ${this.table} (${COLUMNS}) SELECT ${COLUMNS} FROM ${journal}`,
      );
    }
    await this.command(`DROP TABLE IF EXISTS ${journal}`);
  }

  /** Journals left by a run that died (process killed mid-drop): restored, then dropped. */
  private async recoverStaleJournals(): Promise<void> {
    const rows = await this.select<{ name: string }>(
      `SELECT name FROM system.tables
       WHERE database = ${clickHouseLiteral(this.database)}
         AND startsWith(name, ${clickHouseLiteral(JOURNAL_PREFIX)})
         AND NOT endsWith(name, '_mv')`,
    );
    for (const { name } of rows) {
      const started = Number(name.slice(JOURNAL_PREFIX.length).split('_')[0]);
      if (!(Date.now() - started > STALE_JOURNAL_MS)) continue;
      const journal = `${this.database}.${name}`;
      await this.restore(journal, `${journal}_mv`, true);
    }
  }

  private async exists(table: string): Promise<boolean> {
    const name = table.slice(this.database.length + 1);
    const [row] = await this.select<{ n: Int64 }>(
      `SELECT count() AS n FROM system.tables
       WHERE database = ${clickHouseLiteral(this.database)} AND name = ${clickHouseLiteral(name)}`,
    );
    return Number(row?.n ?? 0) > 0;
  }

  /** Waits until every insert into the table running now has ended. */
  private async waitForInserts(): Promise<void> {
    const waitMs = this.options.insertWaitMs ?? 60_000;
    const deadline = Date.now() + waitMs;
    const running = async () =>
      new Set(
        (
          await this.select<{ query_id: string }>(
            `SELECT query_id FROM system.processes
             WHERE lower(query) LIKE '%insert%'
               AND position(query, ${clickHouseLiteral(this.table)}) > 0
               AND position(query, 'system.processes') = 0`,
          )
        ).map((r) => r.query_id),
      );
    let waiting = await running();
    while (waiting.size > 0) {
      if (Date.now() > deadline) {
        throw new TransientError(
          'hot_store_writers_busy',
          `inserts into ${this.table} did not end within ${waitMs} ms`,
          { table: this.table },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
      const now = await running();
      waiting = new Set([...waiting].filter((id) => now.has(id)));
    }
  }

  private async command(query: string): Promise<void> {
    try {
      await this.client.command({ query });
    } catch (err) {
      throw classifyClickHouseError(err);
    }
  }

  private async select<T>(query: string): Promise<T[]> {
    try {
      const result = await this.client.query({ query, format: 'JSONEachRow' });
      return await result.json<T>();
    } catch (err) {
      throw classifyClickHouseError(err);
    }
  }
}

/** The partition of a UTC day number: its toYYYYMMDD value. */
function dayPartition(dayNumber: number): string {
  const d = new Date(dayNumber * UTC_DAY_MS);
  return String(d.getUTCFullYear() * 10_000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate());
}
