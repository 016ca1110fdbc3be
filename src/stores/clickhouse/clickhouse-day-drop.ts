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
const JOURNAL = `${TABLE}_journal`;

// A day is dropped only if it ended this long before the server's now: the journal holds
// every sighting inserted with a last_seen that old, so it holds every sighting inserted
// into the day while it is dropped. A week: feeds report sightings days old all the time,
// and each journaled one is written twice.
const JOURNAL_AGE_S = 7 * 86_400;
// Journal partitions (one per day of insertion) older than this are dropped: a drop gives
// up after DROP_DEADLINE_MS, and a crashed one is recovered by the next run well within.
const JOURNAL_KEEP_DAYS = 2;
const DROP_DEADLINE_MS = 1_800_000;

/** Whether a UTC day is old enough to drop at `nowMs` (the journal holds its late inserts). */
export function oldEnoughToDrop(dayNumber: number, nowMs: number): boolean {
  return (dayNumber + 1) * UTC_DAY_MS <= nowMs - JOURNAL_AGE_S * 1000;
}

/**
 * The journal of late sightings and the view that fills it, created with the table
 * (ClickHouseHotStore.init, partitioned tables only). The view copies, within the insert
 * itself, every sighting whose last_seen is older than a week, with the server's time of
 * the insert; not the rows retention carries (they hold what is already there, at an
 * older version, and must not come back with a day they were carried out of).
 */
export function sightingsJournalDdl(database: string): string[] {
  const table = `${database}.${TABLE}`;
  const journal = `${database}.${JOURNAL}`;
  return [
    `CREATE TABLE IF NOT EXISTS ${journal} (
       type String, value String, threat_type String, confidence Float64,
       sources Array(String), tags Array(String), first_seen_ms Int64, last_seen_ms Int64,
       sighting_id String, journaled_at DateTime('UTC'))
     ENGINE = MergeTree PARTITION BY toYYYYMMDD(journaled_at) ORDER BY tuple()`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${journal}_mv TO ${journal}
     AS SELECT ${COLUMNS}, now() AS journaled_at FROM ${table}
     WHERE carried_version = 0
       AND last_seen_ms < (toInt64(toUInt32(now())) - ${JOURNAL_AGE_S}) * 1000`,
  ];
}

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
  | { dropped: false; reason: 'kept_rows' | 'out_of_range' | 'too_recent' | 'deadline' };

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
 * - A sighting inserted into the day while this runs must survive: the day is old (over
 *   a week), and a materialized view created with the table journals, within each insert,
 *   every sighting that old. After the drop, what the journal got since the run's mark
 *   (taken before the indicators were read) goes back into the table. Those sightings are
 *   newer than any archive of the day, so they are exactly what per-indicator deletes would
 *   have kept. A pending marker in the journal lets the next run finish a restore that a
 *   dead run left undone.
 */
export class ClickHouseDayDrop {
  private readonly table: string;
  private readonly journal: string;

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
    this.journal = `${database}.${JOURNAL}`;
  }

  /** Whether the table is partitioned by day (a table of an older Stowage is not). */
  async partitioned(): Promise<boolean> {
    const [row] = await this.select<{ key: string }>(
      `SELECT partition_key AS key FROM system.tables
       WHERE database = ${clickHouseLiteral(this.database)} AND name = ${clickHouseLiteral(TABLE)}`,
    );
    return (row?.key ?? '') !== '';
  }

  /**
   * UTC day numbers of the partitions that exist and end by the cutoff (or, with `partial`,
   * begin before it), oldest first.
   */
  async daysBefore(cutoff: Date, partial = false): Promise<number[]> {
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
      if ((partial ? n : n + 1) * UTC_DAY_MS <= cutoff.getTime() - (partial ? 1 : 0)) {
        days.push(n);
      }
    }
    return days.sort((a, b) => a - b);
  }

  /**
   * Finishes drops a dead run left between the drop and the restore (a pending marker in
   * the journal without its done marker), and drops journal partitions past use.
   */
  async recover(): Promise<void> {
    const pending = await this.select<{ day_ms: Int64; mark: Int64 }>(
      `SELECT last_seen_ms AS day_ms, first_seen_ms AS mark FROM ${this.journal}
       WHERE type = '' GROUP BY last_seen_ms, first_seen_ms
       HAVING countIf(sighting_id = 'done') = 0`,
    );
    for (const p of pending) await this.restore(Number(p.day_ms), Number(p.mark));
    const old = await this.select<{ partition: string }>(
      `SELECT DISTINCT partition FROM system.parts
       WHERE database = ${clickHouseLiteral(this.database)}
         AND table = ${clickHouseLiteral(JOURNAL)} AND active
         AND toUInt32OrZero(partition) < toYYYYMMDD(today() - ${JOURNAL_KEEP_DAYS})`,
    );
    for (const { partition } of old) {
      await this.command(`ALTER TABLE ${this.journal} DROP PARTITION ${Number(partition)}`);
    }
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
    // Every insert stamped before the mark has ended: its sightings are visible to the reads
    // below; any later one is stamped with the mark or after, and journaled.
    const mark = await this.serverMark(highWater !== null);
    if (!oldEnoughToDrop(dayNumber, mark * 1000)) return { dropped: false, reason: 'too_recent' };
    const inDay = `last_seen_ms >= ${clickHouseLiteral(from)} AND last_seen_ms < ${clickHouseLiteral(to)}`;
    const version =
      highWater === null ? '1' : `max_inserted <= ${clickHouseLiteral(Number(highWater))}`;
    // last_seen (the partition key's column) narrows the read to the day's partition.
    const inPartition = `${inDay} AND last_seen >= toDateTime(${clickHouseLiteral(from / 1000)}, 'UTC')
      AND last_seen < toDateTime(${clickHouseLiteral(to / 1000)}, 'UTC')`;
    const touched = `(type, value) IN (SELECT type, value FROM ${this.table} WHERE ${inPartition})`;
    const counts = await this.dayCounts(from, to, inPartition, touched, version);
    const ofDay = Number(counts?.of_day ?? 0);
    const deletable = Number(counts?.deletable ?? 0);
    if (ofDay !== deletable) return { dropped: false, reason: 'kept_rows' };

    // Movers keep everything: their merged row goes into their own (later) day first.
    if (Number(counts?.movers ?? 0) > 0) await this.carryMovers(touched, to);
    // Older sightings of the day's indicators, in partitions that stay.
    if (Number(counts?.older ?? 0) > 0) await this.deleteOlder(from, to, touched, highWater);
    if (Date.now() - started > DROP_DEADLINE_MS) return { dropped: false, reason: 'deadline' };

    // The pending marker first: a run that dies between the drop and the restore leaves
    // it, and the next run restores (recover).
    await this.marker(from, mark, 'pending');
    await this.options.beforeDrop?.();
    await this.command(`ALTER TABLE ${this.table} DROP PARTITION ${dayPartition(dayNumber)}`);
    await this.restore(from, mark);
    return {
      dropped: true,
      rows: deletable,
      oldest: deletable > 0 ? new Date(Number(counts?.oldest_ms)) : null,
      newest: deletable > 0 ? new Date(Number(counts?.newest_ms)) : null,
    };
  }

  /**
   * The indicators that have a sighting on the day: of the day (latest sighting on it),
   * deletable among them, with older sightings elsewhere, movers. Usually no sighting of
   * them is outside the day, and a count of those settles it without aggregating per key.
   */
  private async dayCounts(
    from: number,
    to: number,
    inPartition: string,
    touched: string,
    version: string,
  ) {
    const [outside] = await this.select<{ n: Int64 }>(
      `SELECT count() AS n FROM ${this.table}
       WHERE NOT (last_seen_ms >= ${clickHouseLiteral(from)} AND last_seen_ms < ${clickHouseLiteral(to)})
         AND ${touched}`,
    );
    if (Number(outside?.n ?? 0) === 0) {
      // All their sightings are in the day: one aggregate of the partition alone.
      const [row] = await this.select<{
        of_day: Int64;
        changed: Int64;
        oldest_ms: Int64;
        newest_ms: Int64;
      }>(
        `SELECT count() AS of_day, countIf(NOT (${version})) AS changed,
                min(max_ms) AS oldest_ms, max(max_ms) AS newest_ms
         FROM (
           SELECT max(last_seen_ms) AS max_ms, max(toUInt32(inserted_at)) AS max_inserted
           FROM ${this.table} WHERE ${inPartition}
           GROUP BY type, value)`,
      );
      const ofDay = Number(row?.of_day ?? 0);
      return {
        of_day: ofDay,
        deletable: ofDay - Number(row?.changed ?? 0),
        older: 0,
        movers: 0,
        oldest_ms: row?.oldest_ms ?? 0,
        newest_ms: row?.newest_ms ?? 0,
      };
    }
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
    return counts;
  }

  /**
   * Puts back the sightings of the day journaled from the mark on (inserted while the day
   * was dropped; identical copies of any still there collapse), once the inserts running
   * now have ended, then marks the drop done.
   */
  private async restore(from: number, mark: number): Promise<void> {
    await this.waitForInserts();
    await this.command(
      `INSERT INTO ${this.table} (${COLUMNS})
       SELECT ${COLUMNS} FROM ${this.journal}
       WHERE type != '' AND journaled_at >= toDateTime(${clickHouseLiteral(mark)}, 'UTC')
         AND last_seen_ms >= ${clickHouseLiteral(from)}
         AND last_seen_ms < ${clickHouseLiteral(from + UTC_DAY_MS)}`,
    );
    await this.marker(from, mark, 'done');
  }

  /** A drop's marker in the journal: type '', last_seen_ms the day, first_seen_ms the mark. */
  private async marker(from: number, mark: number, state: 'pending' | 'done'): Promise<void> {
    await this.command(
      `INSERT INTO ${this.journal} (${COLUMNS}, journaled_at)
       VALUES ('', '', '', 0, [], [], ${clickHouseLiteral(mark)}, ${clickHouseLiteral(from)},
               ${clickHouseLiteral(state)}, now())`,
    );
  }

  /**
   * A whole second of the server's clock such that every insert stamped before it has
   * ended (a sighting stamped earlier is visible to the reads that follow) and any later
   * insert is stamped with it or after. It is after the day's archive mark (whose wait
   * ended after that second did), so such a sighting is newer than the archive and never
   * of a deletable indicator. Without an archive mark (archiving off) nothing says so: the
   * mark is then the next second, once it has begun, so what was there before the run is
   * never restored; a sighting inserted during the run survives, as if it came after it.
   */
  private async serverMark(archived: boolean): Promise<number> {
    const now = async () =>
      Number((await this.select<{ s: Int64 }>('SELECT toUInt32(now()) AS s'))[0]?.s);
    let mark = await now();
    if (!archived) {
      const second = mark;
      while ((mark = await now()) <= second) await new Promise((r) => setTimeout(r, 50));
    }
    await this.waitForInserts();
    return mark;
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
