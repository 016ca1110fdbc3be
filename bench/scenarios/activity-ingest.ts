// Activity ingest: HTTP request to events visible in the activity store, through the api,
// the ingest queue and one worker, against a direct insert of the same rows in the same run
// (PostgreSQL COPY into an unpartitioned table of the same columns and key; one ClickHouse
// insert into a table created AS the store's), and the store's own insert in-process.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { loadConfig } from '../../src/config.js';
import { createClickHouse } from '../../src/connections/clickhouse.js';
import type { StoredActivity } from '../../src/domain/activity.js';
import { createActivityStore } from '../../src/stores/hot/create-activity-store.js';
import type { ActivityStore } from '../../src/stores/hot/activity-store.js';
import { postJson } from '../lib/load.js';
import { cpuSeconds, peakRssMb, since } from '../lib/measure.js';
import type { Row, Section } from '../lib/report.js';
import { StowageProcess, benchStack, type BenchStack } from '../lib/stack.js';
import { dropStores, type HotStoreName } from './ioc-ingest.js';

export interface ActivityIngestOptions {
  events: number;
  perRequest: number;
  concurrency: number;
}

const DAY = 86_400_000;

/** n distinct dns_query events over the last two UTC days (two partitions). */
function collectorEvents(start: number, n: number, tag: string): StoredActivity[] {
  const base = Math.floor(Date.now() / DAY) * DAY - DAY;
  return Array.from({ length: n }, (_, k) => {
    const i = start + k;
    return {
      event_id: `evt-${tag}-${i}`,
      timestamp: new Date(base + ((i * 7_919) % (DAY + 3_600_000))).toISOString(),
      source: i % 5 === 0 ? 'proxy' : 'dns',
      event_type: i % 5 === 0 ? 'http_request' : 'dns_query',
      domain: `host-${i % 10_000}.example.com`,
      src_ip: `10.0.${(i >> 8) & 255}.${i & 255}`,
    };
  });
}

async function sendAll(base: string, key: string, options: ActivityIngestOptions, tag: string) {
  const requests = Math.ceil(options.events / options.perRequest);
  let next = 0;
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      for (let i = next++; i < requests; i = next++) {
        const n = Math.min(options.perRequest, options.events - i * options.perRequest);
        await postJson(`${base}/v1/ingest/activities`, key, {
          activities: collectorEvents(i * options.perRequest, n, tag),
        });
      }
    }),
  );
}

function storeOf(stack: BenchStack, suffix = '') {
  const config = loadConfig({
    ...stack.env,
    DATABASE_SCHEMA: `${stack.env.DATABASE_SCHEMA!}${suffix}`,
    CLICKHOUSE_DATABASE: `${stack.env.CLICKHOUSE_DATABASE!}${suffix}`,
  });
  const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: 10 });
  const clickhouse = createClickHouse(config);
  const store = createActivityStore(config, { pg: pool, clickhouse });
  return {
    config,
    pool,
    clickhouse,
    store,
    close: async () => {
      await pool.end();
      await clickhouse.close();
    },
  };
}

async function throughStowage(
  stack: BenchStack,
  store: ActivityStore,
  options: ActivityIngestOptions,
) {
  const { proc: api, base } = await StowageProcess.api(stack);
  const worker = await StowageProcess.worker(stack, ['ingest']);
  try {
    const started = performance.now();
    const cpu0 = [cpuSeconds(api.pid), cpuSeconds(worker.pid)];
    await sendAll(base, stack.key, options, 'api');
    await api.until(
      async () => ((await store.count()) >= options.events ? true : undefined),
      'events visible',
      15 * 60_000,
    );
    // CPU a event moves far less than events/s when other work shares the cores.
    const perEvent = (pid: number, before: number) =>
      ((cpuSeconds(pid) - before) * 1e6) / options.events;
    return {
      seconds: since(started) / 1000,
      workerRssMb: peakRssMb(worker.pid),
      apiCpuUs: perEvent(api.pid, cpu0[0]!),
      workerCpuUs: perEvent(worker.pid, cpu0[1]!),
    };
  } finally {
    await Promise.all([api.stop(), worker.stop()]);
  }
}

async function directPostgres(stack: BenchStack, options: ActivityIngestOptions) {
  const schema = `${stack.env.DATABASE_SCHEMA!}_direct`;
  const client = new pg.Client({ connectionString: stack.env.DATABASE_URL });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA "${schema}"`);
    await client.query(`CREATE TABLE "${schema}".activities (
      source text COLLATE "C" NOT NULL, ts timestamptz NOT NULL,
      event_id text COLLATE "C" NOT NULL, event_type text NOT NULL, record jsonb NOT NULL,
      inserted_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (source, ts, event_id))`);
    await client.query(`CREATE INDEX ON "${schema}".activities (ts, event_id, source)`);
    await client.query(`CREATE INDEX ON "${schema}".activities (event_type, ts, event_id, source)`);
    const esc = (v: string) => v.replace(/[\\\t\n\r]/g, (c) => `\\${c}`);
    const lines = collectorEvents(0, options.events, 'direct').map(
      (r) =>
        [r.source, r.timestamp, esc(r.event_id), r.event_type, esc(JSON.stringify(r))].join('\t') +
        '\n',
    );
    const started = performance.now();
    await pipeline(
      Readable.from(lines),
      client.query(
        copyFrom(
          `COPY "${schema}".activities (source, ts, event_id, event_type, record) FROM STDIN`,
        ),
      ),
    );
    return since(started) / 1000;
  } finally {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await client.end();
  }
}

async function directClickHouse(stack: BenchStack, options: ActivityIngestOptions) {
  const client = createClickHouse(loadConfig(stack.env));
  const db = stack.env.CLICKHOUSE_DATABASE!;
  try {
    await client.command({ query: `CREATE TABLE ${db}.activities_direct AS ${db}.activities` });
    const rows = collectorEvents(0, options.events, 'direct').map((r) => ({
      day: r.timestamp.slice(0, 10),
      source: r.source,
      timestamp_ms: Date.parse(r.timestamp),
      event_id: r.event_id,
      event_type: r.event_type,
      record: JSON.stringify(r),
    }));
    const started = performance.now();
    await client.insert({ table: `${db}.activities_direct`, values: rows, format: 'JSONEachRow' });
    return since(started) / 1000;
  } finally {
    await client
      .command({ query: `DROP TABLE IF EXISTS ${db}.activities_direct` })
      .catch(() => undefined);
    await client.close();
  }
}

/** The store's own insert of the same rows in chunks of perRequest, 8 at a time. */
async function storeAlone(stack: BenchStack, options: ActivityIngestOptions) {
  const own = storeOf(stack, '_store');
  try {
    await own.store.init();
    const chunks: StoredActivity[][] = [];
    for (let i = 0; i < options.events; i += options.perRequest)
      chunks.push(collectorEvents(i, Math.min(options.perRequest, options.events - i), 'store'));
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = next++; i < chunks.length; i = next++) await own.store.insert(chunks[i]!);
      }),
    );
    return since(started) / 1000;
  } finally {
    await own.pool
      .query(`DROP SCHEMA IF EXISTS "${own.config.DATABASE_SCHEMA}" CASCADE`)
      .catch(() => undefined);
    await own.clickhouse
      .command({ query: `DROP DATABASE IF EXISTS ${own.config.CLICKHOUSE_DATABASE}` })
      .catch(() => undefined);
    await own.close();
  }
}

/** Events/s through Stowage, the store alone, and directly, on one hot store (one round). */
export async function activityIngest(
  store: HotStoreName,
  options: ActivityIngestOptions,
): Promise<Section> {
  const stack = benchStack({ HOT_STORE: store, INGEST_MAX_IOCS: String(options.perRequest) });
  const reader = storeOf(stack);
  try {
    const stowage = await throughStowage(stack, reader.store, options);
    const direct =
      store === 'postgres'
        ? await directPostgres(stack, options)
        : await directClickHouse(stack, options);
    const alone = await storeAlone(stack, options);
    const rate = (s: number) => `${Math.round(options.events / s).toLocaleString('en')} events/s`;
    const rows: Row[] = [
      {
        figure: `${options.events.toLocaleString('en')} events, HTTP → visible rows`,
        value: rate(stowage.seconds),
        baseline: `${rate(direct)} (${store === 'postgres' ? 'COPY, unpartitioned' : 'one INSERT'})`,
        ratio: direct / stowage.seconds,
        // The same goal as IOC ingest on the same store.
        goal: store === 'postgres' ? 0.6 : 0.5,
        note: `CPU a event: api ${Math.round(stowage.apiCpuUs)} µs, worker ${Math.round(stowage.workerCpuUs)} µs`,
      },
      {
        figure: "the activity store's insert alone (in-process, no queue)",
        value: rate(alone),
        baseline: rate(direct),
        ratio: direct / alone,
      },
      { figure: 'worker peak RSS', value: `${Math.round(stowage.workerRssMb)} MB` },
    ];
    return {
      id: `activity-ingest-${store}`,
      title: `Activity ingest, ${store === 'postgres' ? 'PostgreSQL' : 'ClickHouse'}`,
      method: [
        `\`stowage api\` and one \`stowage worker --queues ingest\`, \`HOT_STORE=${store}\`.`,
        `${options.events.toLocaleString('en')} distinct events over two UTC days are posted to`,
        `\`POST /v1/ingest/activities\` in requests of ${options.perRequest.toLocaleString('en')},`,
        `${options.concurrency} in flight; the time runs to the last event visible in the store.`,
        'Baseline, same run: the same rows in one COPY (PostgreSQL, an unpartitioned table of the',
        "same columns and key) or one INSERT (ClickHouse, a table created AS the store's).",
        'The note gives the CPU time (user + system, from /proc) the api and the worker spent',
        'from the first request to the last event visible, per event: on a shared machine it',
        'moves far less than events/s.',
      ].join(' '),
      rows,
    };
  } finally {
    await reader.close();
    await dropStores(stack);
  }
}
