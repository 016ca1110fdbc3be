// A backend connection error never crashes a process. The api and a worker run as whole
// processes; a backend is taken away for a few seconds under load (PostgreSQL stopped, which
// terminates every connection with 57P01; ClickHouse stopped; the queue Redis restarted).
// Neither process may exit, and once the backend is back every acknowledged request's work
// must be in its sink exactly once. These tests stop the services the suite shares, so each
// brings them back and waits until they answer before it ends (vitest runs integration
// files one at a time).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveLine } from '../../src/domain/archive.js';
import { iocKey, type StoredIoc } from '../../src/domain/ioc.js';
import type { QueueName } from '../../src/config.js';
import {
  buildWorkload,
  expectedRows,
  expectedWatermarks,
  type IngestRequest,
} from '../chaos/workload.js';
import { dumpAll } from '../helpers/hot-store.js';
import { ProcessStack } from '../helpers/process-stack.js';
import {
  restartService,
  startServices,
  stopService,
  type ServiceName,
} from '../helpers/services.js';

const OUTAGE_MS = 3_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A workload of ingest requests: recent sightings (today) and old ones (40–42 days back). */
function workload(stack: ProcessStack, recentRequests: number, oldRequests: number) {
  return buildWorkload(
    {
      recentRequests,
      oldRequests,
      iocsPerRequest: 25,
      sources: 3,
      recentKeys: 150,
      oldKeys: 40,
      smallArtifacts: 0,
      largeArtifacts: 0,
      largeArtifactBytes: 0,
    },
    7,
    stack.id,
    new Date(),
  );
}

/** Sends items `concurrency` at a time, `gapMs` apart per lane. */
async function lanes<T>(
  items: readonly T[],
  concurrency: number,
  gapMs: number,
  send: (item: T) => Promise<void>,
) {
  let next = 0;
  const lane = async () => {
    for (let item = items[next++]; item !== undefined; item = items[next++]) {
      await send(item);
      await sleep(gapMs);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

/** How long a service was away, in ms: its own shutdown, the pause, its start until it answers. */
interface Outage {
  stoppingMs: number;
  pausedMs: number;
  startingMs: number;
  totalMs: number;
}

/** Takes a service away for OUTAGE_MS (or restarts it), timing each phase. */
async function outage(
  service: ServiceName,
  how: 'stop' | 'restart',
  /** Work sent while the service is down (after the stop, before the start). */
  during: () => Promise<unknown> = () => Promise.resolve(),
): Promise<Outage> {
  const began = Date.now();
  if (how === 'restart') {
    await restartService(service);
    const totalMs = Date.now() - began;
    // A restart has no moment of certain absence: the work goes just after it.
    await during();
    return { stoppingMs: 0, pausedMs: 0, startingMs: 0, totalMs };
  }
  await stopService(service);
  const stopped = Date.now();
  await Promise.all([sleep(OUTAGE_MS), during()]);
  const paused = Date.now();
  await startServices([service]);
  const now = Date.now();
  return {
    stoppingMs: stopped - began,
    pausedMs: paused - stopped,
    startingMs: now - paused,
    totalMs: now - began,
  };
}

/** Every stored row exactly once and as a clean run merges it; the problems in words. */
function compareRows(stored: readonly StoredIoc[], expected: readonly StoredIoc[]): string[] {
  const problems: string[] = [];
  const byKey = new Map<string, string[]>();
  for (const row of stored)
    byKey.set(iocKey(row), [...(byKey.get(iocKey(row)) ?? []), archiveLine(row)]);
  for (const row of expected) {
    const got = byKey.get(iocKey(row)) ?? [];
    byKey.delete(iocKey(row));
    if (got.length !== 1) problems.push(`${row.type} ${row.value}: stored ${got.length} times`);
    else if (got[0] !== archiveLine(row))
      problems.push(`${row.type} ${row.value}: ${got[0]} expected ${archiveLine(row)}`);
  }
  for (const key of byKey.keys()) problems.push(`${key}: not expected`);
  return problems;
}

/** Prints the figures docs/RELIABILITY.md quotes. */
function report(what: string, figures: Record<string, unknown>): void {
  console.log(`[outage] ${what}: ${JSON.stringify(figures)}`);
}

afterAll(async () => {
  // Whatever happened above, the shared services answer again before the next file runs.
  await startServices();
}, 180_000);

describe('PostgreSQL stopped under watermark PUTs, watermark.commit, ingest and archive work', () => {
  let stack: ProcessStack;
  beforeAll(async () => {
    stack = await ProcessStack.start('postgres');
  }, 150_000);
  afterAll(async () => {
    await startServices(['postgres']);
    await stack?.close();
  }, 120_000);

  it('no process exits, and after PostgreSQL returns every watermark, row and archive day is right', async () => {
    const { recent, old, oldDays } = workload(stack, 18, 6);
    const acked: { id: string; queue: QueueName }[] = [];
    const ackedIngest: IngestRequest[] = [];
    const ingest = async (r: IngestRequest) => {
      const { jobs } = await stack.ingest(r, 60_000);
      acked.push(...jobs);
      ackedIngest.push(r);
    };
    // The old days' sightings are stored first: the archive run during the outage reads them.
    await lanes(old, 3, 0, ingest);
    await stack.waitCompleted(acked, 60_000);

    // Eight sources, each a sequence of watermark PUTs: ~8 PUT transactions always in flight.
    const t0 = Date.now() - 3_600_000;
    const puts = Array.from({ length: 8 }, (_, s) => ({
      source: `wm-${stack.id}-${s}`,
      stamps: Array.from({ length: 15 }, (_, k) => new Date(t0 + k * 1_000 + s).toISOString()),
    }));
    let refused = 0;
    const putAll = Promise.all(
      puts.map(async ({ source, stamps }) => {
        for (const timestamp of stamps) {
          const sent = await stack.send('PUT', `/api/v1/watermarks/${source}`, {
            timestamp,
            status: 'success',
            records_collected: 1,
          });
          expect(sent.status, JSON.stringify(sent.body)).toBeLessThan(300);
          refused += sent.refused;
          await sleep(100);
        }
      }),
    );
    const ingestAll = lanes(recent, 3, 400, ingest);
    // The archive run and the traffic are under way when PostgreSQL goes.
    const archive = await stack.maintenance('archive.lock', { max_days: 60 });
    acked.push(archive);
    await sleep(400);
    const away = await outage('postgres', 'stop');
    const back = Date.now();
    await Promise.all([putAll, ingestAll]);
    const retries = await stack.waitCompleted(acked, 90_000);
    const recoveredMs = Date.now() - back;

    // Nobody died, and the outage really reached them: errors on their connections,
    // handled and logged, and requests refused with 503.
    expect(stack.crashes()).toEqual([]);
    const warned = [
      ...stack.logLines('api', 'postgres connection error'),
      ...stack.logLines('worker', 'postgres connection error'),
    ];
    expect(warned.length).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);

    // The sinks: every watermark at its final value, every row exactly once, each old day archived.
    for (const { source, stamps } of puts) {
      const wm = await stack.deps.watermarks.get(source);
      expect(wm?.last_successful_timestamp?.toISOString(), source).toBe(stamps.at(-1));
    }
    for (const [source, timestamp] of expectedWatermarks(ackedIngest)) {
      const wm = await stack.deps.watermarks.get(source);
      expect(wm?.last_successful_timestamp?.toISOString(), source).toBe(timestamp);
    }
    expect(compareRows(await dumpAll(stack.deps.hotStore), expectedRows(ackedIngest))).toEqual([]);
    const oldRows = expectedRows(old);
    for (const day of oldDays) {
      const want = oldRows.filter((r) => r.last_seen.toISOString().startsWith(day)).length;
      const entry = await stack.deps.archiveLedger.get(day);
      expect(entry?.rows, `archive day ${day}`).toBe(want);
    }
    report('postgres', {
      outage: away,
      recoveredMs,
      processesAlive: stack.processes.length,
      watermarkPuts: puts.length * 15,
      ingestRequests: ackedIngest.length,
      jobs: acked.length,
      jobRetries: retries,
      requestsRefused: refused,
      connectionWarnings: warned.length,
    });
  }, 240_000);
});

describe('ClickHouse (hot store) stopped, then the queue Redis restarted, during ingest', () => {
  let stack: ProcessStack;
  const ingested: IngestRequest[] = [];
  beforeAll(async () => {
    stack = await ProcessStack.start('clickhouse');
  }, 150_000);
  afterAll(async () => {
    await startServices(['clickhouse', 'redis']);
    await stack?.close();
  }, 120_000);

  /** Ingest under an outage of `service`; every acknowledged request's rows and watermarks checked after. */
  async function ingestThrough(service: ServiceName, how: 'stop' | 'restart', seedOffset: number) {
    const { recent } = workload(stack, 24, 0);
    // A distinct source per run, so each check sees only its own requests' watermarks.
    const requests = recent.map((r) => ({
      ...r,
      key: `${r.key}-${seedOffset}`,
      source_id: `${r.source_id}-${seedOffset}`,
    }));
    const acked: { id: string; queue: QueueName }[] = [];
    const ackedIngest: IngestRequest[] = [];
    let refused = 0;
    const send = async (r: IngestRequest) => {
      const { sent, jobs } = await stack.ingest(r, 60_000);
      refused += sent.refused;
      acked.push(...jobs);
      ackedIngest.push(r);
    };
    // Spread over a few seconds, so requests arrive before, during and after the outage; a
    // few are sent while the service is surely down, so their jobs meet the outage.
    const whileDown = requests.slice(0, 4);
    const ingestAll = lanes(requests.slice(4), 3, 500, send);
    await sleep(600);
    const away = await outage(service, how, () => lanes(whileDown, 2, 0, send));
    const back = Date.now();
    await ingestAll;
    const retries = await stack.waitCompleted(acked, 90_000);
    const recoveredMs = Date.now() - back;

    expect(stack.crashes()).toEqual([]);
    expect(ackedIngest).toHaveLength(requests.length);
    for (const [source, timestamp] of expectedWatermarks(ackedIngest)) {
      const wm = await stack.deps.watermarks.get(source);
      expect(wm?.last_successful_timestamp?.toISOString(), source).toBe(timestamp);
    }
    // Every row of every acknowledged request so far (both runs share indicators, which merge).
    ingested.push(...ackedIngest);
    expect(compareRows(await dumpAll(stack.deps.hotStore), expectedRows(ingested))).toEqual([]);
    return {
      outage: away,
      recoveredMs,
      retries,
      refused,
      jobs: acked.length,
      ingestRequests: ackedIngest.length,
    };
  }

  it('ClickHouse stopped: no process exits; every acknowledged ingest is stored exactly once after it returns', async () => {
    const figures = await ingestThrough('clickhouse', 'stop', 1);
    // The outage bit: inserts failed and were retried.
    expect(figures.retries).toBeGreaterThan(0);
    report('clickhouse', { ...figures, processesAlive: stack.processes.length });
  }, 200_000);

  it('the queue Redis restarted: no process exits; every acknowledged ingest is stored exactly once', async () => {
    const figures = await ingestThrough('redis', 'restart', 2);
    const warned = [
      ...stack.logLines('api', 'redis connection error'),
      ...stack.logLines('worker', 'redis connection error'),
    ];
    expect(warned.length).toBeGreaterThan(0);
    report('redis', {
      ...figures,
      processesAlive: stack.processes.length,
      connectionWarnings: warned.length,
    });
  }, 200_000);
});
