import {
  DETECTION_ARCHIVE_SCHEMA_VERSION,
  detectionArchiveLine,
  detectionArchiveManifestKey,
  detectionArchivePartKey,
  detectionManifestDigest,
  type ArchivedDetection,
  type DetectionArchiveManifest,
} from '../../src/domain/detection-archive.js';
import { utcDayOf, utcDayWindow } from '../../src/domain/utc-day.js';
import { PermanentError } from '../../src/errors/index.js';
import type { DetectionArchiveLedger } from '../../src/stores/postgres/detection-archive-ledger.js';
import type {
  DetectionArchiveCursor,
  PostgresDetectionRetention,
} from '../../src/stores/postgres/detection-retention.js';
import type { WormArchive } from '../../src/stores/s3/worm-archive.js';
import type { ArchiveLockSettings } from '../archive-lock/handler.js';
import { LockedGenerationWriter } from '../archive-lock/locked-generation.js';
import type { Handler, JobContext } from '../job-definition.js';
import type { detectionsArchiveJob } from './definition.js';

/** What detections.archive needs. */
export interface DetectionsArchiveDeps {
  detections: Pick<PostgresDetectionRetention, 'days' | 'highWater' | 'archivePage'>;
  ledger: Pick<DetectionArchiveLedger, 'get' | 'record' | 'latestGenerations' | 'lockDay'>;
  archive: Pick<WormArchive, 'bucket' | 'assertObjectLock' | 'putLocked' | 'findReusable'>;
  /** The ARCHIVE_* settings archive.lock runs with (lock mode, years, encryption, part rows). */
  settings: ArchiveLockSettings;
  /** The clock; the system's by default. */
  now?: () => Date;
}

/** What happened to one day. */
export interface ArchivedDetectionDay {
  day: string;
  /** The generation written (or, skipped, the newest one there). */
  generation: number;
  rows: number;
  parts: number;
  bytes: number;
  /** ISO 8601 (microseconds): the latest updated_at the generation holds. */
  high_water: string | null;
  manifest_key: string | null;
  retain_until: string | null;
  /** Why nothing was written: the newest generation holds the day as it is, or it is empty. */
  skipped?: 'already_archived' | 'no_rows';
  /** Objects found in the bucket from an earlier, unfinished run and kept. */
  reused_objects?: number;
}

/** The job's result: every day it looked at, and the detections and bytes it archived. */
export interface DetectionsArchiveResult {
  days: ArchivedDetectionDay[];
  rows: number;
  bytes: number;
}

const DEFAULT_PAGE_ROWS = 10_000;

/**
 * Whether a day needs a new generation: detections are mutable, so the day changed since its
 * newest generation when one of them was updated (or inserted) after that generation's
 * high-water mark. Both marks are ISO 8601 UTC with microseconds, so they compare as text.
 */
export function needsDetectionArchive(
  maxUpdatedAt: string | null,
  latest: { high_water: string } | undefined,
): boolean {
  if (maxUpdatedAt === null) return false;
  return latest === undefined || maxUpdatedAt > latest.high_water;
}

/**
 * Archives finished UTC days of detections, each generation as gzip NDJSON parts plus a
 * manifest under `archive/detections/v1/day=…/generation=N/`, every line a detection with its
 * status history, every object written under Object Lock and verified before the generation
 * goes into the ledger. A generation half-written by a crashed run is finished by reusing the
 * objects already there.
 */
export function createDetectionsArchiveHandler(
  deps: DetectionsArchiveDeps,
): Handler<typeof detectionsArchiveJob, DetectionsArchiveResult> {
  const now = deps.now ?? (() => new Date());
  return async (payload, ctx) => {
    // First, so that a bucket without Object Lock fails the job before anything is read.
    await deps.archive.assertObjectLock();
    const today = utcDayOf(now());
    let plan: string[];
    if (payload.day !== undefined) {
      if (payload.day >= today) {
        throw new PermanentError(
          'archive_day_not_over',
          `${payload.day} is not over yet (UTC): only days before ${today} can be archived, since detections may still arrive`,
          { day: payload.day },
        );
      }
      plan = [payload.day];
    } else {
      plan = await pendingDays(deps, today, payload.max_days);
    }
    ctx.log.info({ days: plan }, 'archiving detection days');

    const result: DetectionsArchiveResult = { days: [], rows: 0, bytes: 0 };
    for (const [index, day] of plan.entries()) {
      ctx.signal.throwIfAborted();
      await ctx.progress({
        percent: Math.floor((index / plan.length) * 100),
        day,
        day_index: index + 1,
        days: plan.length,
      });
      const archived = await archiveDay(deps, now, day, ctx);
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

/** Days before today with a detection no generation holds as it is, oldest first. */
async function pendingDays(
  deps: DetectionsArchiveDeps,
  today: string,
  maxDays: number,
): Promise<string[]> {
  const days = await deps.detections.days(today);
  const first = days[0];
  const last = days.at(-1);
  if (!first || !last) return [];
  const latest = await deps.ledger.latestGenerations(first.day, last.day);
  return days
    .filter((d) => needsDetectionArchive(d.max_updated_at, latest.get(d.day)))
    .slice(0, maxDays)
    .map((d) => d.day);
}

async function archiveDay(
  deps: DetectionsArchiveDeps,
  now: () => Date,
  day: string,
  ctx: JobContext,
): Promise<ArchivedDetectionDay> {
  const { settings, archive, ledger, detections } = deps;
  // Held until the generation is recorded: a second job on the day waits and retries.
  const lock = await ledger.lockDay(day);
  try {
    const recorded = await ledger.get(day);
    // Read before the first page: what the pages hold is at least this new.
    const highWater = await detections.highWater(day);
    if (recorded && !needsDetectionArchive(highWater, recorded)) {
      ctx.log.info(
        { day, generation: recorded.generation, manifest: recorded.manifest_key },
        'detection day already archived as it is, skipped',
      );
      return {
        day,
        generation: recorded.generation,
        rows: recorded.rows,
        parts: recorded.parts,
        bytes: recorded.bytes,
        high_water: recorded.high_water,
        manifest_key: recorded.manifest_key,
        retain_until: recorded.retain_until.toISOString(),
        skipped: 'already_archived',
      };
    }
    // A retry of a crashed run comes back to the same generation, hence the same keys.
    const generation = (recorded?.generation ?? 0) + 1;
    const empty: ArchivedDetectionDay = {
      day,
      generation,
      rows: 0,
      parts: 0,
      bytes: 0,
      high_water: null,
      manifest_key: null,
      retain_until: null,
      skipped: 'no_rows',
    };
    if (highWater === null) {
      ctx.log.info({ day }, 'detection day holds no detections, nothing archived');
      return empty;
    }
    const window = utcDayWindow(day);
    const startedAt = now();
    const pageRows = settings.pageRows ?? Math.min(settings.partRows, DEFAULT_PAGE_ROWS);
    const writer = new LockedGenerationWriter<ArchivedDetection>(
      archive,
      settings,
      {
        day,
        generation,
        partKey: (n) => detectionArchivePartKey(day, generation, n),
        line: detectionArchiveLine,
        noun: 'detection archive part',
        onStored: (parts, rows) => ctx.progress({ day, rows, parts }),
      },
      ctx,
      startedAt,
    );

    // Pages in (ts, detection_id) order after the last one read; a full part is uploaded
    // before the next page is read.
    let after: DetectionArchiveCursor | undefined;
    for (;;) {
      const page = await detections.archivePage(day, after, pageRows);
      await writer.write(page.detections);
      if (page.last === undefined || page.detections.length < pageRows) break;
      after = page.last;
      ctx.signal.throwIfAborted();
    }
    const { parts, rows, bytes, earliest, reused: reusedParts } = await writer.finish();
    if (parts.length === 0) {
      ctx.log.info({ day }, 'detection day holds no detections, nothing archived');
      return empty;
    }

    const manifest: DetectionArchiveManifest = {
      schema_version: DETECTION_ARCHIVE_SCHEMA_VERSION,
      kind: 'detections',
      day,
      generation,
      window_start: window.start.toISOString(),
      window_end: window.end.toISOString(),
      high_water: highWater,
      format: 'ndjson+gzip',
      parts,
      rows,
      bytes,
      lock_mode: settings.lockMode,
      retain_until: earliest.toISOString(),
      sse: settings.sse,
      created_at: startedAt.toISOString(),
    };
    const manifestKey = detectionArchiveManifestKey(day, generation);
    const manifestObject = await writer.putManifest(
      manifestKey,
      manifest,
      detectionManifestDigest(manifest),
    );
    const lockedUntil = new Date(
      Math.min(earliest.getTime(), manifestObject.retainUntil.getTime()),
    );
    const inserted = await ledger.record({
      day,
      generation,
      bucket: archive.bucket,
      rows,
      parts: parts.length,
      bytes,
      high_water: highWater,
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
        rows,
        parts: parts.length,
        bytes,
        high_water: highWater,
        manifest: manifestKey,
        retain_until: lockedUntil.toISOString(),
        reused_objects: reused,
        recorded: inserted,
      },
      'detection day archived',
    );
    return {
      day,
      generation,
      rows,
      parts: parts.length,
      bytes,
      high_water: highWater,
      manifest_key: manifestKey,
      retain_until: lockedUntil.toISOString(),
      ...(reused > 0 ? { reused_objects: reused } : {}),
    };
  } finally {
    await lock.release();
  }
}
