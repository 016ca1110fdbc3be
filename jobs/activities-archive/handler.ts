import {
  ACTIVITY_ARCHIVE_SCHEMA_VERSION,
  activityArchiveLine,
  activityArchiveManifestKey,
  activityArchivePartKey,
  activityManifestDigest,
  type ActivityArchiveManifest,
} from '../../src/domain/activity-archive.js';
import type { StoredActivity } from '../../src/domain/activity.js';
import { utcDayOf, utcDayWindow } from '../../src/domain/utc-day.js';
import { PermanentError } from '../../src/errors/index.js';
import type { ActivityStore } from '../../src/stores/hot/activity-store.js';
import type {
  ActivityArchiveLedger,
  LatestActivityGeneration,
} from '../../src/stores/postgres/activity-archive-ledger.js';
import type { WormArchive } from '../../src/stores/s3/worm-archive.js';
import type { ArchiveLockSettings } from '../archive-lock/handler.js';
import { LockedGenerationWriter } from '../archive-lock/locked-generation.js';
import type { Handler, JobContext } from '../job-definition.js';
import type { activitiesArchiveJob } from './definition.js';

/** What activities.archive needs. */
export interface ActivitiesArchiveDeps {
  activities: Pick<ActivityStore, 'backend' | 'dayCounts' | 'search'>;
  ledger: Pick<ActivityArchiveLedger, 'get' | 'record' | 'latestGenerations' | 'lockDay'>;
  archive: Pick<WormArchive, 'bucket' | 'assertObjectLock' | 'putLocked' | 'findReusable'>;
  /** The ARCHIVE_* settings archive.lock runs with (lock mode, years, encryption, part rows). */
  settings: ArchiveLockSettings;
  /** The clock; the system's by default. */
  now?: () => Date;
}

/** What happened to one day. */
export interface ArchivedActivityDay {
  day: string;
  /** The generation written (or, skipped, the newest one there). */
  generation: number;
  rows: number;
  parts: number;
  bytes: number;
  manifest_key: string | null;
  retain_until: string | null;
  /** Why nothing was written: the newest generation holds the day as it is, or it is empty. */
  skipped?: 'already_archived' | 'no_rows';
  /** Objects found in the bucket from an earlier, unfinished run and kept. */
  reused_objects?: number;
}

/** The job's result: every day it looked at, and the events and bytes it archived. */
export interface ActivitiesArchiveResult {
  days: ArchivedActivityDay[];
  rows: number;
  bytes: number;
}

const DEFAULT_PAGE_ROWS = 10_000;

/**
 * Whether a day holding `rows` events needs a new generation. Events are append-only and
 * the first write wins, so a day's content is its set of identities and a generation holds
 * a subset of the partition it was read from: the day changed iff it holds more events
 * than its newest generation, or that generation's partition was dropped (every event
 * there now arrived since), or it was read from the other backend.
 */
export function needsArchive(
  rows: number,
  latest: Pick<LatestActivityGeneration, 'rows' | 'dropped' | 'backend'> | undefined,
  backend: LatestActivityGeneration['backend'],
): boolean {
  if (rows === 0) return false;
  if (latest === undefined || latest.dropped || latest.backend !== backend) return true;
  return rows > latest.rows;
}

/**
 * Archives finished UTC days of activity events, each generation as gzip NDJSON parts plus a
 * manifest under `archive/activities/v1/day=…/generation=N/`, every object written under
 * Object Lock and verified before the generation goes into the ledger. A generation
 * half-written by a crashed run is finished by reusing the objects already there.
 */
export function createActivitiesArchiveHandler(
  deps: ActivitiesArchiveDeps,
): Handler<typeof activitiesArchiveJob, ActivitiesArchiveResult> {
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
          `${payload.day} is not over yet (UTC): only days before ${today} can be archived, since events may still arrive`,
          { day: payload.day },
        );
      }
      plan = [payload.day];
    } else {
      plan = await pendingDays(deps, today, payload.max_days);
    }
    ctx.log.info({ days: plan }, 'archiving activity days');

    const result: ActivitiesArchiveResult = { days: [], rows: 0, bytes: 0 };
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

/** Days before today holding events no generation holds as they are, oldest first. */
async function pendingDays(
  deps: ActivitiesArchiveDeps,
  today: string,
  maxDays: number,
): Promise<string[]> {
  const days = (await deps.activities.dayCounts(today)).filter((d) => d.rows > 0);
  const first = days[0];
  const last = days.at(-1);
  if (!first || !last) return [];
  const latest = await deps.ledger.latestGenerations(first.day, last.day);
  return days
    .filter((d) => needsArchive(d.rows, latest.get(d.day), deps.activities.backend))
    .slice(0, maxDays)
    .map((d) => d.day);
}

async function archiveDay(
  deps: ActivitiesArchiveDeps,
  now: () => Date,
  day: string,
  ctx: JobContext,
): Promise<ArchivedActivityDay> {
  const { settings, archive, ledger, activities } = deps;
  // Held until the generation is recorded: a second job on the day waits and retries.
  const lock = await ledger.lockDay(day);
  try {
    const recorded = await ledger.get(day);
    const [current] = (await activities.dayCounts(nextDay(day))).filter((d) => d.day === day);
    const rowsNow = current?.rows ?? 0;
    const latest =
      recorded === undefined
        ? undefined
        : {
            rows: recorded.rows,
            dropped: recorded.dropped_at !== null,
            backend: recorded.backend,
          };
    if (recorded && !needsArchive(rowsNow, latest, activities.backend)) {
      ctx.log.info(
        { day, generation: recorded.generation, manifest: recorded.manifest_key },
        'activity day already archived as it is, skipped',
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
    const window = utcDayWindow(day);
    const startedAt = now();
    const pageRows = settings.pageRows ?? Math.min(settings.partRows, DEFAULT_PAGE_ROWS);
    const writer = new LockedGenerationWriter<StoredActivity>(
      archive,
      settings,
      {
        day,
        generation,
        partKey: (n) => activityArchivePartKey(day, generation, n),
        line: activityArchiveLine,
        noun: 'activity archive part',
        onStored: (parts, rows) => ctx.progress({ day, rows, parts }),
      },
      ctx,
      startedAt,
    );

    // Pages in the search order (timestamp, event_id, source) after the last one read;
    // a full part is uploaded before the next page is read.
    let after: { timestamp: string; event_id: string; source: string } | undefined;
    for (;;) {
      const page = await activities.search({
        start: window.start,
        end: window.end,
        after,
        limit: pageRows,
      });
      await writer.write(page);
      const last = page.at(-1);
      if (last === undefined || page.length < pageRows) break;
      after = { timestamp: last.timestamp, event_id: last.event_id, source: last.source };
      ctx.signal.throwIfAborted();
    }
    const { parts, rows, bytes, earliest, reused: reusedParts } = await writer.finish();

    if (parts.length === 0) {
      ctx.log.info({ day }, 'activity day holds no events, nothing archived');
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

    const manifest: ActivityArchiveManifest = {
      schema_version: ACTIVITY_ARCHIVE_SCHEMA_VERSION,
      kind: 'activities',
      day,
      generation,
      window_start: window.start.toISOString(),
      window_end: window.end.toISOString(),
      backend: activities.backend,
      format: 'ndjson+gzip',
      parts,
      rows,
      bytes,
      lock_mode: settings.lockMode,
      retain_until: earliest.toISOString(),
      sse: settings.sse,
      created_at: startedAt.toISOString(),
    };
    const manifestKey = activityArchiveManifestKey(day, generation);
    const manifestObject = await writer.putManifest(
      manifestKey,
      manifest,
      activityManifestDigest(manifest),
    );
    const lockedUntil = new Date(
      Math.min(earliest.getTime(), manifestObject.retainUntil.getTime()),
    );
    const inserted = await ledger.record({
      day,
      generation,
      backend: activities.backend,
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
        rows,
        parts: parts.length,
        bytes,
        manifest: manifestKey,
        retain_until: lockedUntil.toISOString(),
        reused_objects: reused,
        recorded: inserted,
      },
      'activity day archived',
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
    await lock.release();
  }
}

/** The UTC day after `day`. */
function nextDay(day: string): string {
  return utcDayOf(utcDayWindow(day).end);
}
