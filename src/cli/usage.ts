import { QUEUE_NAMES } from '../config.js';
import { maintenanceJobs } from '../../jobs/maintenance-jobs.js';
import { JOB_DEFINITIONS } from '../../jobs/registry.js';

/** Help text after the 27-column command margin, wrapped at 88 columns. */
function described(text: string): string {
  const margin = ' '.repeat(27);
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && margin.length + line.length + 1 + word.length > 88) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines.map((l) => `${margin}${l}`).join('\n');
}

const RUNNABLE = maintenanceJobs(JOB_DEFINITIONS)
  .map((d) => d.name)
  .join(', ');

/** What `stowage` with no or an unknown command prints. */
export const USAGE = `usage: stowage <command>

processes
  api                      intake API, job status, health, dashboard at DASHBOARD_PATH
  worker [--queues a,b]    run jobs of the given queues (default WORKER_QUEUES)
  scheduler                enqueue maintenance jobs on cron
  dashboard                Bull Board on its own (DASHBOARD_PORT)
  init                     check every backend answers, create schemas and buckets
                           (run it before api and workers: they create nothing)
  init --verify-only       change nothing: list what init would create or change (schema
                           version, tables, buckets, versioning, Object Lock); exit 1 if any
  up                       start local services and every process (one machine)

operating (talk to Redis and PostgreSQL directly; --json for scripts)
  enqueue <type> --payload JSON [--idempotency-key K]
                           validate a payload against its job type and enqueue it
  status <job-id> [--queue q]
                           state, attempts, progress, failure reason, return value
  jobs cancel <job-id> [--queue q]
                           remove a job that has not started, or abort a running one
  retry <job-id> [--reset-attempts]
  retry --all --queue q [--reset-attempts]
                           move failed jobs back to waiting
  pause <queue> | resume <queue>
                           stop or restart every worker taking the queue's jobs
  counts                   jobs per queue: waiting, active, delayed, prioritized,
                           waiting-children, completed, failed, paused
  jobs list [--type T] [--state S] [--tenant T] [--tag source:ID] [--since ISO]
            [--limit N] [--cursor C] [--json]
                           find jobs across queues and states, newest first (indexed)
  jobs show <job-id>       a job with its enqueuer, tenant, tags and dashboard link
  jobs remove <job-id>     remove a job that is not running (and its flow children)
  watermarks get [source_id]
  watermarks set <source_id> --timestamp ISO [--force]
  watermarks set <source_id> --timestamp ISO --rewind --reason TEXT [--by NAME]
                           read or move a collector watermark (forward only;
                           --force creates a source's first one; --rewind goes
                           back, audited with the reason and --by or the OS user)
  config get <key> [--version N]
  config set <key> --value JSON [--version N] [--by NAME]
  config list [--cursor KEY] [--limit N]
                           read or write the configuration store (set names the
                           version it replaces, 0 or none for a new key)
  run <job> [--dry-run] [--payload JSON] [--report FILE] [--no-wait]
${described(`run a maintenance job now (${RUNNABLE}), show its progress and print its report; --dry-run changes nothing`)}
  schedules [--json]       each scheduled job, its SCHEDULE_ variable and its cron (UTC)
                           or off: the definition's default unless the environment sets it
  plans list [--status S] [--cursor ID] [--limit N]
  plans show <plan-id> [--cursor N] [--limit N]
  plans approve <plan-id> --digest SHA256 [--by NAME]
                           maintenance plans (retention.cleanup's dry run stores one):
                           what exactly they delete; approve by the digest reviewed
                           enqueues the execution
  schedules list [--json]  each schedule's cron, last tick enqueued (Redis) and next tick
  dead-letters list [--queue Q] [--type T] [--tenant T] [--since ISO] [--cursor C] [--limit N]
  dead-letters show <id> | retry <id>
  dead-letters purge [--queue Q] [--type T] [--tenant T] [--since ISO] [--before ISO] [--all]
                           jobs that failed for good (PostgreSQL): list, show, retry once
                           (the original job, or a new one of the same data), or remove

records (the hot store, PostgreSQL and the buckets directly; JSON as the api answers it)
  iocs search [--type T] [--threat-type T] [--min-confidence N] [--max-confidence N]
              [--source S] [--tag T] [--cidr NET] [--seen-since ISO] [--seen-until ISO]
              [--limit N] [--cursor C] [--count]
                           a page of IOCs in (type, value) order; next_cursor continues
  iocs stats               counts per type, threat type and confidence bucket
  iocs get <type> <value> [--no-cache]
                           one IOC: cache, hot store, then archive (--no-cache: no cache)
  iocs delete <type> <value>
                           remove an IOC from the hot store and the cache
  iocs export-stix [search filters] [--limit N] [--cursor C] > bundle.json
  iocs export-misp [search filters] [--limit N] [--cursor C] > event.json
                           matching IOCs as a STIX 2.1 bundle, streamed
  activities search [--since ISO] [--until ISO] [--source S] [--event-type T]
                    [--limit N] [--cursor C]
  activities stats [--since ISO] [--until ISO]
                           events of a window (default the last 24 h, at most 7 days)
  detections list [--severity S] [--status S] [--ioc VALUE] [--since ISO] [--until ISO]
                  [--limit N] [--cursor C]
  detections show <id>     a detection and its status history
  detections status <id> <status> [--case-id ID] [--note TEXT] [--by NAME]
                           move it along its workflow (recorded as cli:<--by or OS user>)
  detections stats [--since ISO] [--until ISO]
  artifacts get <kind> <key> [-o|--output FILE] [--range FIRST-LAST|FIRST-|=-SUFFIX]
                           stream the bytes to FILE or stdout; a whole object's SHA-256
                           is checked against the stored one
  artifacts head <kind> <key>
                           size, SHA-256, version and metadata, without the bytes
  artifacts delete <kind> <key> [--reason TEXT]
                           delete a sample or debug bundle for good (audited)

exit codes: 0 ok, 1 failed (job failed, not found, refused, backend away),
            2 usage or validation error (bad configuration),
            3 a process refused to start (schema missing or older: run init;
              an unsafe production setting)
queues: ${QUEUE_NAMES.join(', ')}
configuration: environment variables, see .env.example`;
