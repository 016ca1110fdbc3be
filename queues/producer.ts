import { FlowProducer, type FlowJob, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { stagedBody, type BatchStager, type BatchToStage } from '../src/domain/staged-batch.js';
import { ValidationError, isPermanent } from '../src/errors/index.js';
import { MAX_JOB_TIMEOUT_MS, type AnyJobDefinition, type InputOf } from '../jobs/job-definition.js';
import { APP_KEY_SCOPE, jobIdForKey, newJobId } from '../jobs/job-id.js';
import { META_KEY, jobMeta, withMeta, type JobMeta, type JobOrigin } from '../jobs/job-meta.js';
import type { DefinitionNamed, JobNameOf, JobRegistry } from '../jobs/job-registry.js';
import type { QueueName } from '../src/config.js';
import type { QueueSet } from './queue-set.js';
import { fairPriority, laneOf, type FairPriority } from './fair-priority.js';
import { JobSearchIndex } from '../src/stores/redis/job-search-index.js';
import { QUEUE_DEFAULTS } from './queue-defaults.js';

/** Per-enqueue choices a producer may make. */
export interface EnqueueOptions {
  /** Two enqueues with the same key (and type, in the same keyScope) are one job. */
  idempotencyKey?: string;
  /**
   * The namespace of idempotencyKey. Applications leave it out and share `APP_KEY_SCOPE`;
   * the api sets it to the caller, route and request digest (`apiKeyScope`), so its callers'
   * keys never meet each other's nor an application's.
   */
  keyScope?: string;
  /** An exact job id (the scheduler uses it for ticks); wins over idempotencyKey. */
  jobId?: string;
  delayMs?: number;
  priority?: number;
  /**
   * The payload is already the output of this type's schema (the ingest route checks each
   * record and names its index), so it is not parsed a second time. Never set it for
   * payloads from outside.
   */
  validated?: boolean;
  /**
   * The payload comes from in-process code that may set a definition's reserved fields (the
   * artifact intake naming its own spool file). Never set it for payloads from outside.
   */
  trusted?: boolean;
  /**
   * Who asks (the API key's name and tenant, `scheduler`, `cli:<user>`): recorded with the
   * job's tags under `$meta` (jobs/job-meta.ts) so it can be found and accounted.
   */
  origin?: JobOrigin | undefined;
  /**
   * Search tags the caller knows and the payload does not carry (a claim-checked batch's
   * source id, the request's Idempotency-Key), kept before the type's own (JobDefinition.tags).
   */
  tags?: readonly string[] | undefined;
  /**
   * This job's maximum duration per attempt (ms) instead of its type's (JobDefinition.timeout),
   * recorded under `$meta.timeout_ms`; from 1 ms to MAX_JOB_TIMEOUT_MS.
   */
  timeoutMs?: number | undefined;
}

/** What an enqueue returns. */
export interface EnqueuedJob {
  id: string;
  name: string;
  queue: string;
}

/** Choices for a bulk enqueue: one idempotency key per payload, by position. */
export type BulkOptions = Omit<EnqueueOptions, 'jobId' | 'idempotencyKey'> & {
  idempotencyKeys?: string[];
};

/** One job of a flow: its type, payload and optional idempotency key. */
export interface FlowNode<N extends string = string> {
  name: N;
  payload: unknown;
  idempotencyKey?: string;
  /** See EnqueueOptions.validated. */
  validated?: boolean;
}

/** The typed way applications, the API and the scheduler put work on the queues. */
export class Producer<Defs extends readonly AnyJobDefinition[]> {
  private readonly flows: FlowProducer;
  /** Who asks when an enqueue names no origin (see onBehalfOf). */
  private defaultOrigin: JobOrigin | undefined;
  /** Where every enqueued job is recorded for search (GET /v1/jobs, `stowage jobs list`). */
  readonly search: JobSearchIndex;

  constructor(
    private readonly registry: JobRegistry<Defs>,
    private readonly queues: QueueSet,
    private readonly connection: Redis,
    private readonly claimCheck: {
      /** Where claim-checked records are staged; without it such types cannot be enqueued. */
      batches?: BatchStager;
      /**
       * Told when the batch store could not take a batch (PostgreSQL away) and the records
       * went into the job itself instead, validated again by the worker: ingest stays up
       * through the outage at the price of Redis memory.
       */
      onInline?: (err: unknown, jobs: number) => void;
    } = {},
    /** Gives jobs of fair queues their tenant's start tag as priority; without it, FIFO. */
    private readonly fair?: FairPriority,
  ) {
    this.flows = new FlowProducer({ connection, prefix: queues.prefix });
    this.search = new JobSearchIndex(connection, queues.prefix, searchRetentionMs());
    // Connection errors are logged by the connection's owner (see QueueSet).
    this.flows.on('error', () => undefined);
  }

  /**
   * This producer, recording `origin` on every job it enqueues that names none: the api
   * hands each request one bound to its caller. Shares queues and connections (no copy).
   */
  onBehalfOf(origin: JobOrigin): Producer<Defs> {
    const bound = Object.create(this) as Producer<Defs>;
    bound.defaultOrigin = origin;
    return bound;
  }

  /** Validates a payload against its type and enqueues it. */
  async enqueue<N extends JobNameOf<Defs>>(
    name: N,
    payload: InputOf<DefinitionNamed<Defs, N>>,
    options: EnqueueOptions = {},
  ): Promise<EnqueuedJob> {
    return this.enqueueByName(name, payload, options);
  }

  /** Like enqueue, for a name only known at run time (the API's generic route). */
  async enqueueByName(
    name: string,
    payload: unknown,
    options: EnqueueOptions = {},
  ): Promise<EnqueuedJob> {
    const prepared = this.prepare(name, payload, options);
    await this.stage([prepared]);
    const { definition, data, id } = prepared;
    const [fair] = await this.fairPriorities([prepared], options.origin, options.priority);
    const [job] = await Promise.all([
      this.queues.get(definition.queue).add(name, data, {
        ...this.jobOptions(definition, options),
        ...fair,
        jobId: id,
      }),
      this.index([prepared]),
    ]);
    return { id: job.id ?? id, name, queue: definition.queue };
  }

  /**
   * The id `enqueueByName` would give this payload, validated the same way, without enqueueing
   * it: the artifact intake binds its spool file to the job before the job exists.
   */
  jobIdFor(name: string, payload: unknown, options: EnqueueOptions = {}): string {
    return this.prepare(name, payload, options).id;
  }

  /** Validates every payload first (all or nothing), then enqueues them in one round trip. */
  async enqueueBulk<N extends JobNameOf<Defs>>(
    name: N,
    payloads: InputOf<DefinitionNamed<Defs, N>>[],
    options: BulkOptions = {},
  ): Promise<EnqueuedJob[]> {
    return this.enqueueBulkByName(name, payloads, options);
  }

  /** Like enqueueBulk, for a name only known at run time. */
  async enqueueBulkByName(
    name: string,
    payloads: unknown[],
    options: BulkOptions = {},
  ): Promise<EnqueuedJob[]> {
    const prepared = payloads.map((payload, i) => {
      const key = options.idempotencyKeys?.[i];
      return this.prepare(
        name,
        payload,
        {
          ...(key === undefined ? {} : { idempotencyKey: key }),
          ...(options.keyScope === undefined ? {} : { keyScope: options.keyScope }),
          ...(options.validated ? { validated: true } : {}),
          ...(options.trusted ? { trusted: true } : {}),
          ...(options.origin === undefined ? {} : { origin: options.origin }),
          ...(options.tags === undefined ? {} : { tags: options.tags }),
          ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        },
        `payloads.${i}`,
      );
    });
    const first = prepared[0];
    if (!first) return [];
    await this.stage(prepared);
    const queue = this.queues.get(first.definition.queue);
    const fair = await this.fairPriorities(prepared, options.origin, options.priority);
    const [jobs] = await Promise.all([
      queue.addBulk(
        prepared.map(({ definition, data, id }, i) => ({
          name,
          data,
          opts: { ...this.jobOptions(definition, options), ...fair[i], jobId: id },
        })),
      ),
      this.index(prepared),
    ]);
    return jobs.map((job, i) => ({ id: job.id ?? prepared[i]!.id, name, queue: queue.name }));
  }

  /**
   * Enqueues a parent that runs only after every child completed; a child failing for good
   * fails the parent, so the parent's effect (say, a watermark) happens only on full success.
   */
  async enqueueFlow<P extends JobNameOf<Defs>, C extends JobNameOf<Defs>>(flow: {
    parent: FlowNode<P>;
    children: FlowNode<C>[];
    /** The namespace of every node's idempotencyKey (see EnqueueOptions.keyScope). */
    keyScope?: string;
    /** Who asks, recorded on every node (see EnqueueOptions.origin). */
    origin?: JobOrigin | undefined;
    /** Search tags of every node (see EnqueueOptions.tags). */
    tags?: readonly string[] | undefined;
  }): Promise<EnqueuedJob & { children: EnqueuedJob[] }> {
    const parent = this.prepare(
      flow.parent.name,
      flow.parent.payload,
      { ...keyOf(flow.parent, flow.keyScope, flow.origin), ...tagsOf(flow.tags) },
      'parent.payload',
    );
    const children = flow.children.map((child, i) =>
      this.prepare(
        child.name,
        child.payload,
        { ...keyOf(child, flow.keyScope, flow.origin), ...tagsOf(flow.tags) },
        `children.${i}.payload`,
      ),
    );
    await this.stage([parent, ...children]);
    const nodes = [parent, ...children];
    const fair = await this.fairPriorities(nodes, flow.origin, undefined);
    const node = (p: Prepared): FlowJob => ({
      name: p.definition.name,
      queueName: p.definition.queue,
      data: p.data,
      opts: { ...this.jobOptions(p.definition, {}), ...fair[nodes.indexOf(p)], jobId: p.id },
    });
    const [tree] = await Promise.all([
      this.flows.add({
        ...node(parent),
        children: children.map((c) => ({
          ...node(c),
          opts: { ...node(c).opts, failParentOnFailure: true },
        })),
      }),
      this.index([parent, ...children]),
    ]);
    return {
      id: tree.job.id ?? parent.id,
      name: parent.definition.name,
      queue: parent.definition.queue,
      children: children.map((c) => ({
        id: c.id,
        name: c.definition.name,
        queue: c.definition.queue,
      })),
    };
  }

  /**
   * The stored data of the job with this id of type `name`, or undefined when there is none:
   * BullMQ keeps the first job of an id, so a replay finds the first request's payload.
   */
  async findPayload(name: string, id: string): Promise<unknown> {
    const definition = this.registry.get(name);
    if (!definition) return undefined;
    const job = await this.queues.get(definition.queue).getJob(id);
    if (!job) return undefined;
    // Who enqueued it is not part of what was asked for.
    const payload = { ...(job.data as Record<string, unknown>) };
    delete payload[META_KEY];
    return payload;
  }

  /** Whether a job with this id of type `name` exists (waiting, running, done or failed). */
  async hasJob(name: string, id: string): Promise<boolean> {
    const definition = this.registry.get(name);
    if (!definition) return false;
    return (await this.queues.get(definition.queue).getJob(id)) !== undefined;
  }

  /** Resolves once the flow producer's connection is up (see QueueSet.ready). */
  async ready(): Promise<void> {
    await this.flows.waitUntilReady();
  }

  /** Closes the flow producer (queues and connection belong to their owner). */
  async close(): Promise<void> {
    await this.flows.close();
  }

  /** Validates one payload; `path` prefixes the field paths of its errors (`payloads.3`). */
  private prepare(
    name: string,
    payload: unknown,
    options: EnqueueOptions,
    path?: string,
  ): Prepared {
    const definition = this.registry.get(name);
    if (!definition) {
      throw new ValidationError([{ path: 'type', message: `unknown job type "${name}"` }]);
    }
    let data: unknown = payload;
    if (!options.validated) {
      const parsed = definition.payload.safeParse(payload);
      if (!parsed.success) throw ValidationError.fromZod(parsed.error, path);
      data = parsed.data;
    }
    const reserved = options.trusted ? [] : (definition.reserved?.(data) ?? []);
    if (reserved.length > 0) {
      throw new ValidationError(
        reserved.map((issue) => ({
          ...issue,
          path: path === undefined ? issue.path : `${path}.${issue.path}`,
        })),
      );
    }
    // An explicit key lives in its caller's namespace; a key the type derives from the payload
    // (natural: the same work whoever enqueues it) in none.
    const explicit = options.idempotencyKey;
    const natural = explicit === undefined ? definition.idempotencyKey?.(data) : undefined;
    const id =
      options.jobId ??
      (explicit !== undefined
        ? jobIdForKey(name, explicit, options.keyScope ?? APP_KEY_SCOPE)
        : natural !== undefined
          ? jobIdForKey(name, natural)
          : newJobId(name));
    const timeoutMs = options.timeoutMs;
    if (
      timeoutMs !== undefined &&
      !(Number.isInteger(timeoutMs) && timeoutMs > 0 && timeoutMs <= MAX_JOB_TIMEOUT_MS)
    ) {
      throw new ValidationError([
        { path: 'timeout_ms', message: `a whole number of ms from 1 to ${MAX_JOB_TIMEOUT_MS}` },
      ]);
    }
    const meta = jobMeta(
      options.origin ?? this.defaultOrigin,
      this.tagsFor(definition, data, options),
      timeoutMs,
    );
    if (!definition.claimCheck) return { definition, data: withMeta(data, meta), id, meta };
    // The records go to the batch store; the job carries their digest and count.
    const records = definition.claimCheck.records(data);
    const { body, digest } = stagedBody(records);
    const batch = { digest, records: records.length };
    return {
      definition,
      data: withMeta({ batch }, meta),
      id,
      meta,
      staged: {
        ...batch,
        body,
        jobId: id,
        queue: definition.queue,
        kind: definition.claimCheck.kind,
      },
      inline: withMeta(data, meta),
    };
  }

  /** Stages the claim-checked records of prepared jobs, before any of them is enqueued. */
  private async stage(prepared: readonly Prepared[]): Promise<void> {
    const staged = prepared.flatMap((p) => (p.staged ? [p.staged] : []));
    if (staged.length === 0) return;
    const { batches, onInline } = this.claimCheck;
    if (!batches) {
      throw new Error(
        `job type "${prepared[0]!.definition.name}" keeps its records in the batch store, which this producer was not given`,
      );
    }
    try {
      await batches.stage(staged);
    } catch (err) {
      if (isPermanent(err)) throw err;
      // The batch store is away: the records travel in the job, as before claim checks.
      for (const p of prepared) {
        if (p.staged) {
          p.data = p.inline;
          delete p.staged;
        }
      }
      onInline?.(err, staged.length);
    }
  }

  /**
   * The fair priority option of each prepared job on a fair queue (`{}` elsewhere): one tag
   * reservation per queue for the lane of the origin's tenant, tags in the jobs' order. An
   * explicit priority (the enqueue's, else the type's) defers a job by priority − 1 turns
   * (fairPriority), so it orders work without overriding fairness.
   */
  private async fairPriorities(
    prepared: readonly Prepared[],
    origin: JobOrigin | undefined,
    priority: number | undefined,
  ): Promise<{ priority?: number }[]> {
    const out: { priority?: number }[] = prepared.map(() => ({}));
    const fair = this.fair;
    if (!fair) return out;
    const lane = laneOf((origin ?? this.defaultOrigin)?.tenant);
    const byQueue = new Map<QueueName, number[]>();
    prepared.forEach((p, i) => {
      const queue = p.definition.queue;
      if (fair.isFair(queue)) byQueue.set(queue, [...(byQueue.get(queue) ?? []), i]);
    });
    const explicit = (i: number) => priority ?? prepared[i]!.definition.options?.priority;
    await Promise.all(
      [...byQueue].map(async ([queue, indexes]) => {
        const maxOffset = Math.max(...indexes.map((i) => fairPriority(0, explicit(i))));
        const first = await fair.reserve(queue, lane, indexes.length, maxOffset);
        indexes.forEach((i, k) => (out[i] = { priority: fairPriority(first + k, explicit(i)) }));
      }),
    );
    return out;
  }

  /** The caller's tags first (they outlive the MAX_TAGS cut), then the type's own. */
  private tagsFor(
    definition: AnyJobDefinition,
    data: unknown,
    options: EnqueueOptions,
  ): string[] | undefined {
    const own = definition.tags?.(data);
    if (!options.tags?.length) return own;
    return [...options.tags, ...(own ?? [])];
  }

  /**
   * Records prepared jobs in the search index on the queues' connection, sent alongside the add
   * (not after it): no extra round trip on the enqueue path. A job whose add then fails leaves
   * an entry a reader prunes; an index write that fails never fails the enqueue (the job is
   * there, and a retrying client would enqueue it twice).
   */
  private async index(prepared: readonly Prepared[]): Promise<void> {
    const pipeline = this.connection.pipeline();
    this.search.write(
      pipeline,
      prepared.map((p) => ({
        queue: p.definition.queue,
        id: p.id,
        type: p.definition.name,
        tenant: p.meta?.tenant,
        tags: p.meta?.tags,
      })),
    );
    await pipeline.exec().catch(() => undefined);
  }

  private jobOptions(definition: AnyJobDefinition, options: EnqueueOptions): JobsOptions {
    return {
      ...this.queues.jobDefaults(definition.queue),
      ...definition.options,
      ...(options.delayMs === undefined ? {} : { delay: options.delayMs }),
      ...(options.priority === undefined ? {} : { priority: options.priority }),
    };
  }
}

interface Prepared {
  definition: AnyJobDefinition;
  data: unknown;
  id: string;
  /** Who asks and the job's tags, as its data carries them (the search index's fields). */
  meta?: JobMeta | undefined;
  /** The records of a claim-checked type, to stage before the job is enqueued. */
  staged?: BatchToStage;
  /** The validated payload itself: what the job carries when the batch store is away. */
  inline?: unknown;
}

function tagsOf(tags: readonly string[] | undefined): EnqueueOptions {
  return tags === undefined ? {} : { tags };
}

/** How long the search index keeps a job: as long as any queue keeps one (failed: a week). */
function searchRetentionMs(): number {
  const ages = Object.values(QUEUE_DEFAULTS).flatMap(({ job }) =>
    [job.removeOnComplete, job.removeOnFail].map((keep) =>
      typeof keep === 'object' && 'age' in keep ? (keep.age ?? 0) : 0,
    ),
  );
  return Math.max(...ages) * 1000;
}

function keyOf(
  node: FlowNode,
  keyScope: string | undefined,
  origin: JobOrigin | undefined,
): EnqueueOptions {
  return {
    ...(node.idempotencyKey === undefined ? {} : { idempotencyKey: node.idempotencyKey }),
    ...(keyScope === undefined ? {} : { keyScope }),
    ...(node.validated ? { validated: true } : {}),
    ...(origin === undefined ? {} : { origin }),
  };
}
