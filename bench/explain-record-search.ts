/**
 * The plans behind the `record-search` figures: loads the same rows as the scenario, then
 * runs each search through the store's own code with the client intercepted, printing
 * PostgreSQL's `EXPLAIN (ANALYZE, BUFFERS)` of the statement it sent, and for ClickHouse
 * (18.16 has no EXPLAIN) the server's trace of each statement it sent through clickhouse-client:
 * parts and marks selected by the partition and primary key, rows read.
 *
 *   npx tsx bench/explain-record-search.ts --rows 1000000 [--only postgres] [--native-port 19000]
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import type { ClickHouseClient } from '@clickhouse/client';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { createClickHouse } from '../src/connections/clickhouse.js';
import { ClickHouseActivityStore } from '../src/stores/clickhouse/activity-store.js';
import type { ActivityQuery, ActivityStore } from '../src/stores/hot/activity-store.js';
import { PostgresActivityStore } from '../src/stores/postgres/activity-store.js';
import {
  PostgresDetectionStore,
  type DetectionCursor,
  type DetectionFilter,
} from '../src/stores/postgres/detection-store.js';
import { startServices } from '../test/helpers/services.js';
import { StowageProcess, benchStack } from './lib/stack.js';
import { dropStores } from './scenarios/ioc-ingest.js';
import { loadRecordSearch } from './scenarios/record-search.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    'native-port': { type: 'string', default: '19000' },
    /** One store only: postgres or clickhouse. */
    only: { type: 'string' },
  },
});
const rows = Number(values.rows);
const DAY = 86_400_000;

function activityQueries(endMs: number): [string, Omit<ActivityQuery, 'limit'>][] {
  const day = { start: new Date(endMs - DAY), end: new Date(endMs) };
  const week = { start: new Date(endMs - 7 * DAY), end: new Date(endMs) };
  const after = {
    timestamp: new Date(endMs - DAY / 2).toISOString(),
    event_id: 'evt-',
    source: 'a',
  };
  return [
    ['window 24 h', day],
    ['window 7 d', week],
    ['source=dns', { ...day, source: 'dns' }],
    ['source=okta', { ...day, source: 'okta' }],
    ['event_type=process_start', { ...day, event_type: 'process_start' }],
    ['event_type=logon, 7 d', { ...week, event_type: 'logon' }],
    ['event_type=other, 7 d (8 events)', { ...week, event_type: 'other' }],
    ['source=edr&event_type=file_create', { ...day, source: 'edr', event_type: 'file_create' }],
    ['cursor halfway through 24 h', { ...day, after }],
  ];
}

function detectionQueries(endMs: number): [string, DetectionFilter, DetectionCursor?][] {
  const cursor = { timestamp: new Date(endMs - 15 * DAY), detection_id: 'det-' };
  return [
    ['(none)', {}],
    ['severity=CRITICAL', { severity: 'CRITICAL' }],
    ['status=New', { status: 'New' }],
    ['status=Escalated', { status: 'Escalated' }],
    ['status=New&severity=HIGH', { status: 'New', severity: 'HIGH' }],
    ['ioc_value', { iocValues: ['host-0.example.com'] }],
    ['since/until 24 h', { since: new Date(endMs - DAY), until: new Date(endMs) }],
    [
      'severity=HIGH, 24 h',
      { severity: 'HIGH', since: new Date(endMs - DAY), until: new Date(endMs) },
    ],
    ['cursor halfway', {}, cursor],
    ['severity=CRITICAL from the cursor', { severity: 'CRITICAL' }, cursor],
  ];
}

/** A pool whose next query prints its plan instead of running (the caller's parse fails). */
function explaining(pool: pg.Pool, name: string): pg.Pool {
  const query = async (sql: string, params?: unknown[]) => {
    const { rows: plan } = await pool.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN (ANALYZE, BUFFERS) ${sql}`,
      params,
    );
    const lines = plan.map((r) => r['QUERY PLAN']);
    process.stdout.write(`\n### ${name}\n\n${lines.join('\n')}\n`);
    return { rows: [], rowCount: 0 };
  };
  return { query } as unknown as pg.Pool;
}

/** The trace lines of a ClickHouse statement that say what its keys selected and what it read. */
function chTrace(sql: string, port: string): string {
  // The server's log lines of the query come back on the client's stderr.
  const run = spawnSync(
    'clickhouse-client',
    ['--port', port, '--send_logs_level=trace', '--query', `${sql} FORMAT Null`],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  if (run.status !== 0) throw new Error(`clickhouse-client: ${run.stderr.slice(-500)}`);
  return run.stderr;
}

async function postgres(endMs: number) {
  const stack = benchStack({ HOT_STORE: 'postgres' });
  const config = loadConfig(stack.env);
  const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: 2 });
  try {
    await StowageProcess.init(stack);
    process.stdout.write(
      `PostgreSQL load: ${(await loadRecordSearch(stack, 'postgres', rows, endMs)).join(', ')}\n`,
    );
    for (const [name, q] of activityQueries(endMs)) {
      const store = new PostgresActivityStore(explaining(pool, `activities: ${name}`), {
        schema: config.DATABASE_SCHEMA,
      });
      await store.search({ ...q, limit: 101 });
    }
    const stats = new PostgresActivityStore(explaining(pool, 'activities: stats 24 h'), {
      schema: config.DATABASE_SCHEMA,
    });
    await stats.stats({ start: new Date(endMs - DAY), end: new Date(endMs) });
    for (const [name, filter, after] of detectionQueries(endMs)) {
      const store = new PostgresDetectionStore(explaining(pool, `detections: ${name}`), {
        schema: config.DATABASE_SCHEMA,
      });
      await store.search(filter, { limit: 50, after });
    }
    await new PostgresDetectionStore(explaining(pool, 'detections: stats (all)'), {
      schema: config.DATABASE_SCHEMA,
    }).stats();
  } finally {
    await pool.end();
    await dropStores(stack);
  }
}

async function clickhouse(endMs: number) {
  const stack = benchStack({ HOT_STORE: 'clickhouse' });
  const config = loadConfig(stack.env);
  const client = createClickHouse(config);
  try {
    await StowageProcess.init(stack);
    process.stdout.write(
      `ClickHouse load: ${(await loadRecordSearch(stack, 'clickhouse', rows, endMs)).join(', ')}\n`,
    );
    const run = async (name: string, work: (store: ActivityStore) => Promise<unknown>) => {
      // Every statement the store sends, answered by the server so that a search's second
      // statement (the page's records, by the keys the first returned) is sent too.
      const sent: string[] = [];
      const capture = {
        query: (q: { query: string; format: 'JSONEachRow' }) => {
          sent.push(q.query);
          return client.query(q);
        },
      } as unknown as ClickHouseClient;
      await work(new ClickHouseActivityStore(capture, { database: config.CLICKHOUSE_DATABASE }));
      process.stdout.write(`\n### activities: ${name}\n`);
      for (const [i, sql] of sent.entries()) {
        const keep = chTrace(sql, values['native-port'])
          .split('\n')
          .filter((l) => /Selected|marks to read|Read \d+ rows|Key condition|MinMax index/.test(l))
          .map((l) => l.replace(/^.*?<\w+> /, ''));
        process.stdout.write(`\nstatement ${i + 1} of ${sent.length}:\n${keep.join('\n')}\n`);
      }
    };
    for (const [name, q] of activityQueries(endMs)) {
      await run(name, (store) => store.search({ ...q, limit: 101 }));
    }
    await run('stats 24 h', (store) =>
      store.stats({ start: new Date(endMs - DAY), end: new Date(endMs) }),
    );
  } finally {
    await client.close();
    await dropStores(stack);
  }
}

await startServices();
const endMs = Math.floor(Date.now() / 1000) * 1000;
if (values.only !== 'clickhouse') await postgres(endMs);
if (values.only !== 'postgres') await clickhouse(endMs);
process.exit(0);
