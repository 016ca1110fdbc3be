import type { ChainableCommander, Redis } from 'ioredis';

/**
 * A field the index finds jobs by: every job is under `all`, its type, its tenant (when it
 * has one) and each of its tags.
 */
export type IndexKey =
  | { kind: 'all' }
  | { kind: 'type'; value: string }
  | { kind: 'tenant'; value: string }
  | { kind: 'tag'; value: string };

/** One job as the index records it. */
export interface IndexedJob {
  queue: string;
  id: string;
  type: string;
  tenant?: string | undefined;
  tags?: readonly string[] | undefined;
}

/** One entry of a page: the job and its position (enqueue time, µs-ordered). */
export interface IndexEntry {
  queue: string;
  id: string;
  /** `<queue>:<id>`, the sorted sets' member. */
  member: string;
  score: number;
}

/** Where a page starts: after this entry, newest first. */
export interface IndexPosition {
  score: number;
  member: string;
}

/** Entries of a page past which ties at one score may hide more (a guard, see pageAfter). */
const TIE_SLACK = 16;
/** One write in this many also trims the keys it writes by age (the rest only set TTLs). */
const TRIM_EVERY = 64;

/**
 * The job search index: one sorted set per tenant, job type and tag, and one of every job,
 * scored by enqueue time and holding `<queue>:<id>`. Written by the producer next to each add
 * (the same connection, without waiting for the add), read newest first a page at a time.
 * Each key lives as long as the queues keep a job (`retentionMs`, set again on each write) and
 * is trimmed by age now and then; members whose job BullMQ already removed are pruned by the
 * reader that finds them gone. Knows nothing of BullMQ: members are names.
 */
export class JobSearchIndex {
  /** The last score given: each job gets a greater one, so a score names one entry. */
  private lastScore = 0;
  private writes = 0;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** How long the queues keep a job at most (failed jobs: 7 days). */
    private readonly retentionMs: number,
  ) {}

  /** The Redis key of an index field. */
  key(field: IndexKey): string {
    const base = `${this.prefix}:jobsearch`;
    return field.kind === 'all' ? `${base}:all` : `${base}:${field.kind}:${field.value}`;
  }

  /** The fields a job is found by. */
  fieldsOf(job: IndexedJob): IndexKey[] {
    return [
      { kind: 'all' },
      { kind: 'type', value: job.type },
      ...(job.tenant === undefined ? [] : [{ kind: 'tenant' as const, value: job.tenant }]),
      ...(job.tags ?? []).map((value) => ({ kind: 'tag' as const, value })),
    ];
  }

  /**
   * Queues the index writes of jobs enqueued now on a pipeline (the caller executes it); a job
   * already indexed keeps its first position (ZADD NX), as BullMQ keeps the first job of an id.
   */
  write(pipeline: ChainableCommander, jobs: readonly IndexedJob[], now = Date.now()): void {
    const trim = this.writes++ % TRIM_EVERY === 0;
    const ttlSeconds = Math.ceil(this.retentionMs / 1000);
    const keys = new Map<string, (string | number)[]>();
    for (const job of jobs) {
      const score = this.nextScore(now);
      const member = `${job.queue}:${job.id}`;
      for (const field of this.fieldsOf(job)) {
        const key = this.key(field);
        let args = keys.get(key);
        if (!args) keys.set(key, (args = []));
        args.push(score, member);
      }
    }
    for (const [key, args] of keys) {
      pipeline.zadd(key, 'NX', ...args);
      pipeline.expire(key, ttlSeconds);
      if (trim) pipeline.zremrangebyscore(key, '-inf', `(${(now - this.retentionMs) * 1000}`);
    }
  }

  /** Records jobs in the index in one round trip (the producer pipelines write() instead). */
  async record(jobs: readonly IndexedJob[], now = Date.now()): Promise<void> {
    const pipeline = this.redis.pipeline();
    this.write(pipeline, jobs, now);
    await pipeline.exec();
  }

  /**
   * Up to `count` entries of a field after `position` (newest first), none older than
   * `minScore`. Scores are enqueue times in µs made unique per process by a sequence, so a
   * position is one entry; the few ties two processes can make are broken by member, as Redis
   * orders them. Jobs enqueued meanwhile are newer: they never shift a later page.
   */
  async pageAfter(
    field: IndexKey,
    position: IndexPosition | undefined,
    count: number,
    minScore?: number,
  ): Promise<{ entries: IndexEntry[]; exhausted: boolean }> {
    const min = minScore === undefined ? '-inf' : String(minScore);
    const max = position === undefined ? '+inf' : String(position.score);
    const fetch = count + (position === undefined ? 0 : TIE_SLACK);
    const raw = await this.redis.zrevrangebyscore(
      this.key(field),
      max,
      min,
      'WITHSCORES',
      'LIMIT',
      0,
      fetch,
    );
    const exhausted = raw.length / 2 < fetch;
    if (position && raw.length / 2 === fetch && raw[raw.length - 1] === String(position.score)) {
      // More ties at the position's score than the slack (two processes, one µs): move past them.
      return this.pageAfter(
        field,
        { score: position.score - 1, member: '\uffff' },
        count,
        minScore,
      );
    }
    const entries: IndexEntry[] = [];
    for (let i = 0; i + 1 < raw.length && entries.length < count; i += 2) {
      const member = raw[i]!;
      const score = Number(raw[i + 1]);
      // At the position's own score, Redis lists members in descending order: skip up to it.
      if (position && score === position.score && member >= position.member) continue;
      const colon = member.indexOf(':');
      entries.push({ queue: member.slice(0, colon), id: member.slice(colon + 1), member, score });
    }
    return { entries, exhausted: exhausted && entries.length < count };
  }

  /**
   * A pipeline on the index's connection, which is the queues' own: a search reads the jobs of
   * a page with it in one round trip.
   */
  pipeline(): ChainableCommander {
    return this.redis.pipeline();
  }

  /** Sizes of fields (the smallest drives a search); one round trip. */
  async sizes(fields: readonly IndexKey[]): Promise<number[]> {
    const pipeline = this.redis.pipeline();
    for (const field of fields) pipeline.zcard(this.key(field));
    const results = (await pipeline.exec()) ?? [];
    return results.map(([err, n]) => (err ? 0 : Number(n)));
  }

  /** For each member, whether every field holds it; one round trip. */
  async inAll(members: readonly string[], fields: readonly IndexKey[]): Promise<boolean[]> {
    if (fields.length === 0 || members.length === 0) return members.map(() => true);
    const pipeline = this.redis.pipeline();
    for (const member of members) {
      for (const field of fields) pipeline.zscore(this.key(field), member);
    }
    const results = (await pipeline.exec()) ?? [];
    return members.map((_, i) =>
      results
        .slice(i * fields.length, (i + 1) * fields.length)
        .every(([err, score]) => !err && score !== null),
    );
  }

  /** Removes members from fields (jobs BullMQ no longer has, or a removed job). */
  async remove(members: readonly string[], fields: readonly IndexKey[]): Promise<void> {
    if (members.length === 0 || fields.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const field of fields) pipeline.zrem(this.key(field), ...members);
    await pipeline.exec();
  }

  /** Enqueue time in µs, bumped past the last score (a bulk of 10,000 in one ms stays ordered). */
  private nextScore(now: number): number {
    this.lastScore = Math.max(now * 1000, this.lastScore + 1);
    return this.lastScore;
  }
}
