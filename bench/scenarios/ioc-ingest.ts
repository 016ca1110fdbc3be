// IOC ingest: HTTP request to rows visible in the hot store, through the api, the ingest
// queue and one worker, against a direct bulk insert of the same rows in the same run
// (PostgreSQL COPY; a ClickHouse insert).
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { loadConfig, type HotBackendName } from '../../src/config.js';
import { createClickHouse } from '../../src/connections/clickhouse.js';
import type { StoredIoc } from '../../src/domain/ioc.js';
import { toSightingRow } from '../../src/stores/clickhouse/clickhouse-hot-store.js';
import { createHotBackend } from '../../src/stores/hot/create-hot-backend.js';
import { postJson } from '../lib/load.js';
import { peakRssMb, since } from '../lib/measure.js';
import type { Row, Section } from '../lib/report.js';
import { StowageProcess, benchStack, type BenchStack } from '../lib/stack.js';

export type HotStoreName = HotBackendName;

export interface IngestOptions {
  iocs: number;
  perRequest: number;
  concurrency: number;
}

/** n distinct recent domains, a third of them hot (confidence ≥ 0.8, cached). */
function collectorBatch(start: number, n: number, tag: string) {
  const now = Date.now();
  return Array.from({ length: n }, (_, k) => {
    const i = start + k;
    return {
      type: 'domain' as const,
      value: `host-${i}.${tag}.example.com`,
      threat_type: i % 3 === 0 ? 'c2' : 'phishing',
      confidence: i % 3 === 0 ? 0.9 : 0.5,
      source: 'bench',
      first_seen: new Date(now - 5 * 3_600_000).toISOString(),
      last_seen: new Date(now - 3_600_000).toISOString(),
      tags: [`t${i % 4}`],
    };
  });
}

const asStored = (ioc: ReturnType<typeof collectorBatch>[number]): StoredIoc => ({
  ...ioc,
  sources: [ioc.source],
  first_seen: new Date(ioc.first_seen),
  last_seen: new Date(ioc.last_seen),
});

/** Sends options.iocs IOCs to the api, options.concurrency requests in flight. */
async function sendAll(base: string, key: string, options: IngestOptions, tag: string) {
  const requests = Math.ceil(options.iocs / options.perRequest);
  let next = 0;
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      for (let i = next++; i < requests; i = next++) {
        const n = Math.min(options.perRequest, options.iocs - i * options.perRequest);
        await postJson(`${base}/v1/ingest/iocs`, key, {
          source_id: 'bench',
          iocs: collectorBatch(i * options.perRequest, n, tag),
        });
      }
    }),
  );
}

/**
 * Ingest through Stowage. `preloaded`: every request is answered first with the queue
 * paused, then the workers' time alone is measured (the worker-scaling figure); otherwise
 * from the first request to the last row visible, with the worker running throughout.
 */
export async function throughStowage(
  stack: BenchStack,
  count: () => Promise<number>,
  options: IngestOptions,
  workers = 1,
  preloaded = false,
): Promise<{ seconds: number; workerRssMb: number }> {
  const { proc: api, base } = await StowageProcess.api(stack);
  const redis = new Redis(stack.env.REDIS_URL!);
  const admin = new Queue('ingest', {
    connection: redis,
    prefix: stack.env.QUEUE_PREFIX!,
  });
  const procs: StowageProcess[] = [];
  try {
    const tag = `w${workers}-${stack.suffix}`;
    if (preloaded) {
      await admin.pause();
      await sendAll(base, stack.key, options, tag);
    }
    procs.push(
      ...(await Promise.all(
        Array.from({ length: workers }, () => StowageProcess.worker(stack, ['ingest'])),
      )),
    );
    const started = performance.now();
    if (preloaded) await admin.resume();
    else await sendAll(base, stack.key, options, tag);
    await api.until(
      async () => ((await count()) >= options.iocs ? true : undefined),
      'rows visible',
      15 * 60_000,
    );
    const seconds = since(started) / 1000;
    return { seconds, workerRssMb: Math.max(...procs.map((p) => peakRssMb(p.pid))) };
  } finally {
    await Promise.all([api.stop(), ...procs.map((p) => p.stop())]);
    await admin.obliterate({ force: true }).catch(() => undefined);
    await admin.close();
    await redis.quit();
  }
}

/** A PostgreSQL COPY of the same rows into a table shaped like the hot store's; seconds. */
async function directPostgres(stack: BenchStack, options: IngestOptions): Promise<number> {
  const schema = `${stack.env.DATABASE_SCHEMA!}_direct`;
  const client = new pg.Client({ connectionString: stack.env.DATABASE_URL });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA "${schema}"`);
    await client.query(
      `CREATE TABLE "${schema}".iocs (LIKE "${stack.env.DATABASE_SCHEMA!}".iocs INCLUDING ALL)`,
    );
    const text = (v: string) => v.replace(/[\\\t\n\r]/g, (c) => `\\${c}`);
    const array = (xs: string[]) => `{${xs.map((x) => `"${x}"`).join(',')}}`;
    const lines: string[] = [];
    for (let i = 0; i < options.iocs; i += 10_000) {
      const rows = collectorBatch(
        i,
        Math.min(10_000, options.iocs - i),
        `direct-${stack.suffix}`,
      ).map(asStored);
      lines.push(
        rows
          .map((r) =>
            [
              r.type,
              text(r.value),
              r.threat_type,
              String(r.confidence),
              array(r.sources),
              r.first_seen.toISOString(),
              r.last_seen.toISOString(),
              array(r.tags),
            ].join('\t'),
          )
          .join('\n') + '\n',
      );
    }
    const started = performance.now();
    await pipeline(
      Readable.from(lines),
      client.query(
        copyFrom(
          `COPY "${schema}".iocs (type, value, threat_type, confidence, sources, first_seen, last_seen, tags) FROM STDIN`,
        ),
      ),
    );
    return since(started) / 1000;
  } finally {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await client.end();
  }
}

/** One ClickHouse insert of the same rows into a table shaped like the hot store's; seconds. */
async function directClickHouse(stack: BenchStack, options: IngestOptions): Promise<number> {
  const config = loadConfig(stack.env);
  const client = createClickHouse(config);
  const db = stack.env.CLICKHOUSE_DATABASE!;
  try {
    await client.command({ query: `CREATE TABLE ${db}.direct AS ${db}.ioc_sightings` });
    const rows = collectorBatch(0, options.iocs, `direct-${stack.suffix}`).map((r) =>
      toSightingRow(asStored(r)),
    );
    const started = performance.now();
    await client.insert({ table: `${db}.direct`, values: rows, format: 'JSONEachRow' });
    return since(started) / 1000;
  } finally {
    await client.command({ query: `DROP TABLE IF EXISTS ${db}.direct` }).catch(() => undefined);
    await client.close();
  }
}

/**
 * The hot store's own upsert of the same rows (chunks of perRequest, 8 at a time as one
 * worker runs them), in-process, into a schema or database of its own: what Stowage's
 * merge-on-write costs before any queue is involved. Seconds.
 */
async function storeAlone(store: HotStoreName, stack: BenchStack, options: IngestOptions) {
  const config = loadConfig({
    ...stack.env,
    DATABASE_SCHEMA: `${stack.env.DATABASE_SCHEMA!}_store`,
    CLICKHOUSE_DATABASE: `${stack.env.CLICKHOUSE_DATABASE!}_store`,
  });
  const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: 10 });
  const clickhouse = createClickHouse(config);
  const hotStore = createHotBackend(config, { pg: pool, clickhouse }).store;
  try {
    await hotStore.init();
    const chunks: StoredIoc[][] = [];
    for (let i = 0; i < options.iocs; i += options.perRequest)
      chunks.push(
        collectorBatch(
          i,
          Math.min(options.perRequest, options.iocs - i),
          `store-${stack.suffix}`,
        ).map(asStored),
      );
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = next++; i < chunks.length; i = next++) await hotStore.upsert(chunks[i]!);
      }),
    );
    return since(started) / 1000;
  } finally {
    await pool
      .query(`DROP SCHEMA IF EXISTS "${config.DATABASE_SCHEMA}" CASCADE`)
      .catch(() => undefined);
    await clickhouse
      .command({ query: `DROP DATABASE IF EXISTS ${config.CLICKHOUSE_DATABASE}` })
      .catch(() => undefined);
    await pool.end();
    await clickhouse.close();
  }
}

/** Counts the distinct IOCs a reader of the hot store sees. */
function counter(
  store: HotStoreName,
  stack: BenchStack,
): { count: () => Promise<number>; close: () => Promise<void> } {
  if (store === 'postgres') {
    const pool = new pg.Pool({ connectionString: stack.env.DATABASE_URL, max: 1 });
    return {
      count: async () =>
        Number(
          (
            await pool.query<{ n: string }>(
              `SELECT count(*) AS n FROM "${stack.env.DATABASE_SCHEMA!}".iocs`,
            )
          ).rows[0]!.n,
        ),
      close: () => pool.end(),
    };
  }
  const client: ClickHouseClient = createClickHouse(loadConfig(stack.env));
  return {
    count: async () => {
      const result = await client.query({
        query: `SELECT uniqExact(type, value) AS n FROM ${stack.env.CLICKHOUSE_DATABASE!}.ioc_sightings`,
        format: 'JSONEachRow',
      });
      return Number((await result.json<{ n: string }>())[0]?.n ?? 0);
    },
    close: () => client.close(),
  };
}

/** Drops what a stack created in the hot stores. */
export async function dropStores(stack: BenchStack): Promise<void> {
  const pool = new pg.Pool({ connectionString: stack.env.DATABASE_URL, max: 1 });
  await pool
    .query(`DROP SCHEMA IF EXISTS "${stack.env.DATABASE_SCHEMA!}" CASCADE`)
    .catch(() => undefined);
  await pool.end();
  const ch = createClickHouse(loadConfig(stack.env));
  await ch
    .command({ query: `DROP DATABASE IF EXISTS ${stack.env.CLICKHOUSE_DATABASE!}` })
    .catch(() => undefined);
  await ch.close();
}

/** One round: seconds through Stowage and directly, in a stack of its own. */
async function ingestRound(store: HotStoreName, options: IngestOptions) {
  const stack = benchStack({ HOT_STORE: store });
  const { count, close } = counter(store, stack);
  try {
    const stowage = await throughStowage(stack, count, options);
    // The direct insert runs after, into a table created from the hot store's own.
    const direct =
      store === 'postgres'
        ? await directPostgres(stack, options)
        : await directClickHouse(stack, options);
    return { stowage, direct, stack };
  } finally {
    await close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** IOCs/s through Stowage and directly, on one hot store: the median of `rounds` rounds. */
export async function iocIngest(
  store: HotStoreName,
  options: IngestOptions & { rounds?: number },
): Promise<Section> {
  const rounds: Awaited<ReturnType<typeof ingestRound>>[] = [];
  try {
    for (let r = 0; r < (options.rounds ?? 1); r++) rounds.push(await ingestRound(store, options));
    const stack = rounds[0]!.stack;
    // The round whose ratio is the median gives the figures, so they agree with each other.
    const ratios = rounds.map((r) => r.direct / r.stowage.seconds);
    const mid = rounds[ratios.indexOf(median(ratios))]!;
    const { stowage, direct } = mid;
    const alone = await storeAlone(store, stack, options);
    const rate = (s: number) => `${Math.round(options.iocs / s).toLocaleString('en')} IOCs/s`;
    const rows: Row[] = [
      {
        figure: `${options.iocs.toLocaleString('en')} IOCs, HTTP → visible rows`,
        value: rate(stowage.seconds),
        baseline: `${rate(direct)} (${store === 'postgres' ? 'COPY' : 'one INSERT'})`,
        ratio: direct / stowage.seconds,
        goal: store === 'postgres' ? 0.6 : 0.5,
        note: `median of ${rounds.length} (ratios ${ratios.map((x) => x.toFixed(2)).join(', ')})`,
      },
      {
        figure: "the hot store's upsert alone (in-process, no queue)",
        value: rate(alone),
        baseline: rate(direct),
        ratio: direct / alone,
        note: 'merge-on-write, the floor under any queue',
      },
      { figure: 'worker peak RSS', value: `${Math.round(stowage.workerRssMb)} MB` },
    ];
    return {
      id: `ioc-ingest-${store}`,
      title: `IOC ingest, ${store === 'postgres' ? 'PostgreSQL' : 'ClickHouse'}`,
      method: [
        `\`stowage api\` and one \`stowage worker --queues ingest\` (default concurrency 8) as their own`,
        `processes, \`HOT_STORE=${store}\`. ${options.iocs.toLocaleString('en')} distinct recent domains (a third of them hot,`,
        `so cached) are posted to \`POST /v1/ingest/iocs\` in requests of ${options.perRequest.toLocaleString('en')} (one`,
        `\`iocs.insert\` job each), ${options.concurrency} requests in flight; the time runs from the first request to`,
        'the last row visible to a reader of the store (polled). The baseline, in the same run:',
        store === 'postgres'
          ? "one `COPY … FROM STDIN` of the same rows into a table created `LIKE` the hot store's (same indexes)."
          : "one `INSERT` (JSONEachRow) of the same rows, as the hot store writes them, into a table created `AS` the hot store's.",
        `Each of ${rounds.length} rounds runs in a schema (database) of its own, its baseline right after it;`,
        'the table gives the round with the median ratio.',
        "A third figure is the hot store's own `upsert` of the same rows in the same chunks, 8 at a",
        'time, in-process: what merging on write costs before any queue, HTTP or cache is involved.',
      ].join(' '),
      rows,
    };
  } finally {
    for (const r of rounds) await dropStores(r.stack);
  }
}

/** The ingest queue's drain rate with 1, 2, 4… worker processes (PostgreSQL hot store). */
export async function workerScaling(
  options: IngestOptions & { workers: number[] },
): Promise<Section> {
  const rates = new Map<number, number>();
  for (const workers of options.workers) {
    const stack = benchStack({ HOT_STORE: 'postgres' });
    const { count, close } = counter('postgres', stack);
    try {
      const { seconds } = await throughStowage(stack, count, options, workers, true);
      rates.set(workers, options.iocs / seconds);
    } finally {
      await close();
      await dropStores(stack);
    }
  }
  const one = rates.get(options.workers[0]!)!;
  return {
    id: 'worker-scaling',
    title: 'Worker processes on the ingest queue',
    method: [
      `${options.iocs.toLocaleString('en')} IOCs are sent to the api (requests of ${options.perRequest.toLocaleString('en')},`,
      'one `iocs.insert` job each) while the ingest queue is paused; then N `stowage worker',
      '--queues ingest` processes (default concurrency 8 each) are started, the queue resumed,',
      'and the time to the last row visible in PostgreSQL is measured. The ratio is to one',
      'process. **This machine has 2 cores**, shared by the workers, PostgreSQL, Redis and the',
      'api: more processes than cores only add scheduling, so the figures show how the queue',
      'behaves under contention, not how it scales on more hardware.',
    ].join(' '),
    rows: options.workers.map((n) => ({
      figure: `${n} worker process${n === 1 ? '' : 'es'}`,
      value: `${Math.round(rates.get(n)!).toLocaleString('en')} IOCs/s`,
      baseline:
        n === options.workers[0]
          ? ''
          : `${Math.round(one).toLocaleString('en')} IOCs/s (1 process)`,
      ...(n === options.workers[0] ? {} : { ratio: rates.get(n)! / one }),
    })),
  };
}
