import { Job } from 'bullmq';
import type { QueueName } from '../../src/config.js';
import { ForbiddenError, ValidationError } from '../../src/errors/index.js';
import type {
  IndexEntry,
  IndexKey,
  IndexPosition,
  JobSearchIndex,
} from '../../src/stores/redis/job-search-index.js';
import { jobView, withDashboardUrl, type FindJobDeps, type JobDescription } from './find-job.js';

/** Index entries one page reads at most while a state filter skips jobs (then it pages on). */
export const MAX_JOBS_SCANNED = 5_000;

/** What a search asks for; every field narrows it. */
export interface JobFilter {
  type?: string | undefined;
  state?: string | undefined;
  tenant?: string | undefined;
  tag?: string | undefined;
  /** Jobs enqueued at or after. */
  since?: Date | undefined;
  cursor?: string | undefined;
  limit: number;
}

/** Who searches: an admin sees every job, anyone else only their tenant's. */
export interface JobSearcher {
  tenant: string | undefined;
  admin: boolean;
}

/** A page of jobs, newest first, and where the next one starts. */
export interface JobPage {
  jobs: JobDescription[];
  next_cursor: string | null;
}

/** The index, the queues the jobs are read from and the dashboard link. */
export type ListJobsDeps = Pick<FindJobDeps, 'queues' | 'dashboardLink'> & {
  search: JobSearchIndex;
};

/**
 * Jobs matching a filter, newest first, a page at a time: the smallest index field of the
 * filter drives the scan, the others are checked by membership, the state by reading each
 * job (one pipelined round trip per batch). Entries whose job BullMQ already removed are
 * pruned from the index as they are met. A non-admin searcher is held to its tenant: naming
 * another is a ForbiddenError.
 */
export async function listJobs(
  deps: ListJobsDeps,
  filter: JobFilter,
  searcher: JobSearcher,
): Promise<JobPage> {
  const tenant = tenantOf(filter.tenant, searcher);
  const fields: IndexKey[] = [
    ...(filter.type === undefined ? [] : [{ kind: 'type' as const, value: filter.type }]),
    ...(tenant === undefined ? [] : [{ kind: 'tenant' as const, value: tenant }]),
    ...(filter.tag === undefined ? [] : [{ kind: 'tag' as const, value: filter.tag }]),
  ];
  if (fields.length === 0) fields.push({ kind: 'all' });
  const { driver, others } = await pickDriver(deps.search, fields);
  const minScore = filter.since === undefined ? undefined : filter.since.getTime() * 1000;
  let position = decodeCursor(filter.cursor);
  const jobs: JobDescription[] = [];
  let scanned = 0;
  for (;;) {
    const batchSize = Math.min(Math.max(filter.limit - jobs.length, 16) * 2, 1_000);
    const { entries, exhausted } = await deps.search.pageAfter(
      driver,
      position,
      batchSize,
      minScore,
    );
    const members = await deps.search.inAll(
      entries.map((e) => e.member),
      others,
    );
    const candidates = entries.filter((_, i) => members[i]);
    // Without a state filter every live candidate is a result: read no more jobs than the page
    // still needs (the rest are read next round, from the position reached).
    const wanted = filter.state === undefined ? filter.limit - jobs.length : candidates.length;
    const toDescribe = candidates.slice(0, wanted);
    const described = await describeEntries(deps, toDescribe);
    const gone = toDescribe.filter((_, i) => described[i] === null).map((e) => e.member);
    await deps.search.remove(gone, [driver, ...others, ...(driver.kind === 'all' ? [] : ALL)]);
    let i = 0;
    for (const entry of entries) {
      const j = candidates.indexOf(entry);
      // A candidate not read this round: the next round starts at it.
      if (j >= toDescribe.length) break;
      const view = j < 0 ? undefined : described[j];
      position = { score: entry.score, member: entry.member };
      i++;
      if (view && (filter.state === undefined || view.state === filter.state)) {
        jobs.push(view);
        if (jobs.length >= filter.limit) break;
      }
    }
    scanned += i;
    const more = entries.length > 0 && (i < entries.length || !exhausted);
    if (!more) return { jobs, next_cursor: null };
    if (jobs.length >= filter.limit || scanned >= MAX_JOBS_SCANNED) {
      return { jobs, next_cursor: encodeCursor(position!) };
    }
  }
}

const ALL: IndexKey[] = [{ kind: 'all' }];

/** The tenant a search is held to: the searcher's own unless it is an admin. */
function tenantOf(asked: string | undefined, searcher: JobSearcher): string | undefined {
  if (searcher.admin) return asked;
  if (asked !== undefined && asked !== searcher.tenant) {
    throw new ForbiddenError(`this key sees only the jobs of tenant "${searcher.tenant ?? ''}"`, {
      tenant: asked,
    });
  }
  return searcher.tenant;
}

/** The smallest field drives the scan (fewest entries read), the rest are checked. */
async function pickDriver(
  search: JobSearchIndex,
  fields: IndexKey[],
): Promise<{ driver: IndexKey; others: IndexKey[] }> {
  if (fields.length === 1) return { driver: fields[0]!, others: [] };
  const sizes = await search.sizes(fields);
  let best = 0;
  sizes.forEach((n, i) => {
    if (n < sizes[best]!) best = i;
  });
  return { driver: fields[best]!, others: fields.filter((_, i) => i !== best) };
}

/**
 * Describes index entries as GET /v1/jobs/{id} does, in one pipelined round trip: each job's
 * hash, its state (the sorted sets BullMQ keeps per state, and its lock for `active`) and
 * its children's counts. Null for an entry whose job is gone, undefined for one of a queue
 * this process has not opened. A job taken by a worker
 * that died reads `waiting` until BullMQ's stall check moves it back: the lists' LPOS that
 * tells them apart costs the length of the list per job.
 */
async function describeEntries(
  deps: ListJobsDeps,
  entries: readonly IndexEntry[],
): Promise<(JobDescription | null | undefined)[]> {
  if (entries.length === 0) return [];
  const opened = new Set<string>(deps.queues.names());
  const known = entries.filter((e) => opened.has(e.queue));
  if (known.length === 0) return entries.map(() => undefined);
  const pipeline = deps.search.pipeline();
  for (const entry of known) {
    const queue = deps.queues.get(entry.queue as QueueName);
    const key = (name: string) => queue.toKey(name);
    const job = key(entry.id);
    pipeline.hgetall(job);
    for (const set of STATE_SETS) pipeline.zscore(key(set), entry.id);
    pipeline.exists(`${job}:lock`);
    pipeline.hlen(`${job}:processed`);
    pipeline.scard(`${job}:dependencies`);
    pipeline.hlen(`${job}:failed`);
    pipeline.zcard(`${job}:unsuccessful`);
  }
  const results = (await pipeline.exec()) ?? [];
  const per = 1 + STATE_SETS.length + 5;
  const views = new Map<IndexEntry, JobDescription | null>();
  known.forEach((entry, i) => {
    const values = results.slice(i * per, (i + 1) * per).map(([err, v]) => (err ? null : v));
    const hash = values[0] as Record<string, string> | null;
    if (!hash || Object.keys(hash).length === 0 || hash.name === undefined) {
      views.set(entry, null);
      return;
    }
    const states = values.slice(1, 1 + STATE_SETS.length);
    const locked = values[1 + STATE_SETS.length] === 1;
    const inSet = states.findIndex((v) => v !== null);
    const state = inSet >= 0 ? STATE_NAMES[inSet]! : locked ? 'active' : 'waiting';
    const [processed, unprocessed, ignored, failed] = values
      .slice(2 + STATE_SETS.length)
      .map((v) => Number(v ?? 0));
    const queue = deps.queues.get(entry.queue as QueueName);
    const job = Job.fromJSON(queue, jobJsonOf(hash), entry.id);
    const view = jobView(job, state, {
      processed: processed ?? 0,
      unprocessed: unprocessed ?? 0,
      ignored: ignored ?? 0,
      failed: failed ?? 0,
    });
    views.set(entry, withDashboardUrl(deps, view));
  });
  return entries.map((e) => views.get(e));
}

/**
 * A job hash as Redis holds it, in the shape Job.fromJSON takes (what BullMQ's backend does
 * inside getJob, not exported): numbers parsed, options decoded.
 */
function jobJsonOf(raw: Record<string, string>): Parameters<typeof Job.fromJSON>[1] {
  const int = (v: string | undefined) => (v ? parseInt(v, 10) : undefined);
  return {
    id: raw.id!,
    name: raw.name!,
    data: raw.data ?? '{}',
    opts: Job.optsFromJSON(raw.opts),
    progress: JSON.parse(raw.progress ?? '0') as number | object,
    delay: int(raw.delay) ?? 0,
    priority: int(raw.priority) ?? 0,
    timestamp: int(raw.timestamp) ?? 0,
    attemptsStarted: int(raw.ats) ?? 0,
    attemptsMade: int(raw.attemptsMade ?? raw.atm) ?? 0,
    stalledCounter: int(raw.stc) ?? 0,
    finishedOn: int(raw.finishedOn),
    processedOn: int(raw.processedOn),
    failedReason: raw.failedReason,
    stacktrace: raw.stacktrace,
    returnvalue: raw.returnvalue,
  } as Parameters<typeof Job.fromJSON>[1];
}

/** BullMQ's sorted sets of a queue, in the order its getState script asks them. */
const STATE_SETS = ['completed', 'failed', 'delayed', 'prioritized', 'waiting-children'];
const STATE_NAMES = ['completed', 'failed', 'delayed', 'prioritized', 'waiting-children'];

/** A cursor: the last entry a page read, opaque to callers. */
function encodeCursor(position: IndexPosition): string {
  return Buffer.from(JSON.stringify([position.score, position.member])).toString('base64url');
}

function decodeCursor(cursor: string | undefined): IndexPosition | undefined {
  if (cursor === undefined) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (
      Array.isArray(parsed) &&
      parsed.length === 2 &&
      typeof parsed[0] === 'number' &&
      Number.isFinite(parsed[0]) &&
      typeof parsed[1] === 'string'
    ) {
      return { score: parsed[0], member: parsed[1] };
    }
  } catch {
    // Reported below, as any other cursor that is not one of ours.
  }
  throw new ValidationError([{ path: 'cursor', message: 'not a cursor this search returned' }]);
}
