import {
  ARCHIVE_SCHEMA_VERSION,
  archiveLine,
  archiveManifestKey,
  archivePartKey,
  manifestContentDigest,
  type ArchiveManifest,
} from '../../src/domain/archive.js';
import type { StoredIoc } from '../../src/domain/ioc.js';
import { startOfUtcDay, utcDayOf, utcDayWindow } from '../../src/domain/utc-day.js';
import { PermanentError } from '../../src/errors/index.js';
import type { ArchiveIndex } from '../../src/stores/postgres/archive-index.js';
import type { ArchiveLedger, ArchiveLockMode } from '../../src/stores/postgres/archive-ledger.js';
import type { HotStore } from '../../src/stores/hot/hot-store.js';
import type { ArchiveSse, WormArchive } from '../../src/stores/s3/worm-archive.js';
import type { Handler, JobContext } from '../job-definition.js';
import type { archiveLockJob } from './definition.js';
import { LockedGenerationWriter } from './locked-generation.js';

/** The configuration archive.lock runs with (ARCHIVE_*). */
export interface ArchiveLockSettings {
  lockMode: ArchiveLockMode;
  retentionYears: number;
  sse: ArchiveSse;
  kmsKeyId: string | undefined;
  /** Rows per part (ARCHIVE_PART_ROWS): bounds the compressed bytes held in memory. */
  partRows: number;
  /** Rows per hot-store read; defaults to min(partRows, 10,000). */
  pageRows?: number;
}

/** What archive.lock needs. */
export interface ArchiveLockDeps {
  hotStore: Pick<HotStore, 'backend' | 'streamWindow' | 'windowDays' | 'versionHighWater'>;
  ledger: Pick<ArchiveLedger, 'get' | 'record' | 'latestGenerations' | 'lockDay'>;
  archive: Pick<WormArchive, 'bucket' | 'assertObjectLock' | 'putLocked' | 'findReusable'>;
  settings: ArchiveLockSettings;
  /**
   * The per-indicator index look-ups find archived rows by; written before the ledger records
   * a generation. Absent: no index (look-ups then find none of these generations' rows).
   */
  index?: Pick<ArchiveIndex, 'clearGeneration' | 'addRows'>;
  /** The clock; the system's by default. */
  now?: () => Date;
}

/** What happened to one day. */
export interface ArchivedDay {
  day: string;
  /** The generation written (or, skipped as already archived, the newest one there). */
  generation: number;
  rows: number;
  parts: number;
  bytes: number;
  manifest_key: string | null;
  retain_until: string | null;
  /**
   * Why nothing was written: the newest generation in the ledger still holds every row of
   * the day as it is now, or the day holds no rows.
   */
  skipped?: 'already_archived' | 'no_rows';
  /** Parts (and manifest) found in the bucket from an earlier, unfinished run and kept. */
  reused_objects?: number;
}

/** The job's result: every day it looked at, and the rows and bytes it archived. */
export interface ArchiveLockResult {
  days: ArchivedDay[];
  rows: number;
  bytes: number;
}

const DEFAULT_PAGE_ROWS = 10_000;

/**
 * Archives UTC days of the hot store, each as gzip NDJSON parts plus a manifest, every
 * object written under Object Lock and verified before the day goes into the ledger. A
 * day whose newest generation in the ledger still holds all its rows as they are is
 * skipped; a day that changed since (a row arrived, or gained a source, tag or confidence)
 * is archived again, whole, as the next generation under keys of its own. A generation
 * half-written by a crashed run is finished by reusing the objects already there (same
 * keys, same content), so a retry adds no second logical archive and, where nothing
 * changed, no second version.
 */
export function createArchiveLockHandler(
  deps: ArchiveLockDeps,
): Handler<typeof archiveLockJob, ArchiveLockResult> {
  const now = deps.now ?? (() => new Date());
  return async (payload, ctx) => {
    // First, so that a bucket without Object Lock fails the job before anything is read.
    await deps.archive.assertObjectLock();

    const today = utcDayOf(now());
    let plan: { day: string; rows: number | undefined }[];
    if (payload.day !== undefined) {
      if (payload.day >= today) {
        throw new PermanentError(
          'archive_day_not_over',
          `${payload.day} is not over yet (UTC): only days before ${today} can be archived, since rows may still arrive`,
          { day: payload.day },
        );
      }
      plan = [{ day: payload.day, rows: undefined }];
    } else {
      plan = await pendingDays(deps, startOfUtcDay(now()), payload.max_days);
    }
    ctx.log.info({ days: plan.map((d) => d.day) }, 'archiving days');

    const result: ArchiveLockResult = { days: [], rows: 0, bytes: 0 };
    for (const [index, { day, rows }] of plan.entries()) {
      ctx.signal.throwIfAborted();
      const report = (fraction: number, detail: Record<string, unknown>) =>
        ctx.progress({
          percent: Math.floor(((index + Math.min(fraction, 0.99)) / plan.length) * 100),
          day,
          day_index: index + 1,
          days: plan.length,
          ...detail,
        });
      await report(0, { rows: 0 });
      const archived = await archiveDay(deps, now, day, rows, ctx, report);
      result.days.push(archived);
      ctx.note(
        archived.skipped === undefined
          ? `day ${day}: generation ${archived.generation} archived, ${archived.rows} rows in ${archived.parts} parts (${archived.bytes} bytes)`
          : `day ${day}: skipped (${archived.skipped === 'no_rows' ? 'no rows' : 'already archived as it is'})`,
      );
      if (archived.skipped === undefined) {
        result.rows += archived.rows;
        result.bytes += archived.bytes;
      }
    }
    await ctx.progress({ percent: 100, days: plan.length, rows: result.rows });
    return result;
  };
}

/**
 * Days before `before` with rows that no generation in the ledger holds as they are now
 * (never archived, or changed since the newest generation), oldest first, at most maxDays.
 */
async function pendingDays(
  deps: ArchiveLockDeps,
  before: Date,
  maxDays: number,
): Promise<{ day: string; rows: number }[]> {
  const days = await deps.hotStore.windowDays(before);
  const first = days[0];
  const last = days.at(-1);
  if (!first || !last) return [];
  const archived = await deps.ledger.latestGenerations(
    utcDayWindow(first.day).start,
    utcDayWindow(last.day).end,
  );
  const backend = deps.hotStore.backend;
  return days
    .filter((d) => {
      const latest = archived.get(d.day);
      // A mark of the other backend says nothing about this one's versions.
      return changedSince(d.version, latest?.backend === backend ? latest.high_water : null);
    })
    .slice(0, maxDays)
    .map((d) => ({ day: d.day, rows: d.rows }));
}

/** Whether a day at `version` holds rows no generation with this high-water mark holds. */
function changedSince(version: string, highWater: string | null | undefined): boolean {
  return highWater === undefined || highWater === null || BigInt(version) > BigInt(highWater);
}

async function archiveDay(
  deps: ArchiveLockDeps,
  now: () => Date,
  day: string,
  expectedRows: number | undefined,
  ctx: JobContext,
  report: (fraction: number, detail: Record<string, unknown>) => Promise<void>,
): Promise<ArchivedDay> {
  const { settings, archive, ledger } = deps;
  // Held until the day is recorded: a second job on the same day waits and retries, then
  // finds the ledger entry, instead of writing locked versions of its own.
  const lock = await ledger.lockDay(day);
  // Index rows are written while the next page is read and compressed (one insert in flight
  // at a time); all of them are in before the ledger records the generation, and none is
  // still in flight when the day's lock goes (a retry clears the generation's rows first).
  let indexing: Promise<void> = Promise.resolve();
  let indexFailure: Error | undefined;
  const indexed = async () => {
    await indexing;
    if (indexFailure !== undefined) throw indexFailure;
  };
  try {
    const window = utcDayWindow(day);
    const recorded = await ledger.get(day);
    const [current] = await deps.hotStore.windowDays(window.end, window.start);
    const mark = recorded?.backend === deps.hotStore.backend ? recorded.high_water : null;
    if (recorded && (current === undefined || !changedSince(current.version, mark))) {
      ctx.log.info(
        { day, generation: recorded.generation, manifest: recorded.manifest_key },
        'day already archived as it is, skipped',
      );
      return {
        day,
        generation: recorded.generation,
        rows: recorded.rows,
        parts: recorded.parts,
        bytes: recorded.bytes,
        manifest_key: recorded.manifest_key,
        retain_until: recorded.retain_until.toISOString(),
        skipped: 'already_archived',
      };
    }
    // A retry of a crashed run comes back to the same generation, hence the same keys.
    const generation = (recorded?.generation ?? 0) + 1;
    // Before the first read: every row version up to the mark is visible to the reads
    // below, so the generation holds each row at or below it as that version.
    const highWater = await deps.hotStore.versionHighWater();
    const startedAt = now();
    const pageRows = settings.pageRows ?? Math.min(settings.partRows, DEFAULT_PAGE_ROWS);
    // A crashed run's index rows of this generation may name other parts: start afresh
    // (the generation is not in the ledger, so no look-up follows them meanwhile).
    await deps.index?.clearGeneration(day, generation);
    const writer = new LockedGenerationWriter<StoredIoc>(
      archive,
      settings,
      {
        day,
        generation,
        partKey: (n) => archivePartKey(day, n, generation),
        line: archiveLine,
        noun: 'archive part',
        onStored: (parts, rows) => report(expectedRows ? rows / expectedRows : 0, { rows, parts }),
      },
      ctx,
      startedAt,
    );
    const { index } = deps;
    const indexSlice = index
      ? async (slice: readonly StoredIoc[], part: number) => {
          await indexed();
          // Caught here and rethrown by indexed(): never an unhandled rejection meanwhile.
          indexing = index.addRows(day, generation, part, slice).catch((err: unknown) => {
            indexFailure = err instanceof Error ? err : new Error(String(err));
          });
        }
      : undefined;

    // Rows stream page by page into the current part; a full part is uploaded before the
    // next page is read, so memory holds one page and one compressed part at most.
    for await (const page of deps.hotStore.streamWindow(window.start, window.end, pageRows)) {
      await writer.write(page, indexSlice);
      ctx.signal.throwIfAborted();
    }
    const { parts, rows, bytes, earliest, reused: reusedParts } = await writer.finish();
    await indexed();

    if (parts.length === 0) {
      ctx.log.info({ day }, 'day holds no rows, nothing archived');
      return {
        day,
        generation,
        rows: 0,
        parts: 0,
        bytes: 0,
        manifest_key: null,
        retain_until: null,
        skipped: 'no_rows',
      };
    }

    const manifest: ArchiveManifest = {
      schema_version: ARCHIVE_SCHEMA_VERSION,
      day,
      generation,
      window_start: window.start.toISOString(),
      window_end: window.end.toISOString(),
      backend: deps.hotStore.backend,
      format: 'ndjson+gzip',
      parts,
      rows,
      bytes,
      lock_mode: settings.lockMode,
      retain_until: earliest.toISOString(),
      sse: settings.sse,
      created_at: startedAt.toISOString(),
    };
    const manifestKey = archiveManifestKey(day, generation);
    // A manifest over exactly these parts (a crash between it and the ledger) is kept.
    const manifestObject = await writer.putManifest(
      manifestKey,
      manifest,
      manifestContentDigest(manifest),
    );
    const lockedUntil = new Date(
      Math.min(earliest.getTime(), manifestObject.retainUntil.getTime()),
    );

    const inserted = await ledger.record({
      day,
      generation,
      high_water: highWater,
      window_start: window.start,
      window_end: window.end,
      backend: deps.hotStore.backend,
      bucket: archive.bucket,
      rows,
      parts: parts.length,
      bytes,
      manifest_key: manifestKey,
      manifest_sha256: manifestObject.sha256,
      manifest_version_id: manifestObject.versionId,
      lock_mode: settings.lockMode,
      retain_until: lockedUntil,
      job_id: ctx.jobId || null,
    });
    const reused = reusedParts + (manifestObject.reused ? 1 : 0);
    ctx.log.info(
      {
        day,
        generation,
        high_water: highWater,
        rows,
        parts: parts.length,
        bytes,
        manifest: manifestKey,
        manifest_sha256: manifestObject.sha256,
        retain_until: lockedUntil.toISOString(),
        reused_objects: reused,
        recorded: inserted,
      },
      'day archived',
    );
    return {
      day,
      generation,
      rows,
      parts: parts.length,
      bytes,
      manifest_key: manifestKey,
      retain_until: lockedUntil.toISOString(),
      ...(reused > 0 ? { reused_objects: reused } : {}),
    };
  } finally {
    await indexing;
    await lock.release();
  }
}
