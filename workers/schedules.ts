import type { Config } from '../src/config.js';
import type { JobRegistry } from '../jobs/job-registry.js';
import type { ScheduleEntry } from './scheduler.js';

/**
 * The maintenance schedule from configuration, archive before retention. Entries set to
 * `off`, or whose job type this build does not register, are left out (and reported).
 */
export function scheduleFromConfig(
  config: Pick<
    Config,
    | 'SCHEDULE_ARCHIVE'
    | 'SCHEDULE_RETENTION'
    | 'SCHEDULE_CACHE_WARM'
    | 'SCHEDULE_ABORT_STALE_UPLOADS'
  >,
  registry: JobRegistry,
): { entries: ScheduleEntry[]; skipped: { jobName: string; reason: string }[] } {
  const wanted: [string, string | null][] = [
    ['archive.lock', config.SCHEDULE_ARCHIVE],
    ['retention.cleanup', config.SCHEDULE_RETENTION],
    ['cache.promote', config.SCHEDULE_CACHE_WARM],
    ['uploads.abort-stale', config.SCHEDULE_ABORT_STALE_UPLOADS],
  ];
  const entries: ScheduleEntry[] = [];
  const skipped: { jobName: string; reason: string }[] = [];
  for (const [jobName, expression] of wanted) {
    if (expression === null) skipped.push({ jobName, reason: 'disabled (off)' });
    else if (!registry.get(jobName)) skipped.push({ jobName, reason: 'job type not registered' });
    else entries.push({ jobName, cron: expression, payload: {} });
  }
  return { entries, skipped };
}
