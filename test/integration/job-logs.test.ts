import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../../src/log.js';
import { WorkerHost } from '../../workers/worker-host.js';
import { startWorker } from '../../workers/worker-process.js';
import { testHandlers } from '../fixtures/test-jobs.js';
import { StowageWorld, TEST_KEYS, TestWorld, eventually } from '../helpers/world.js';
import {
  artifactOverrides,
  dropArtifacts,
  spoolForJob,
  writeRandomFile,
} from '../helpers/artifacts.js';

type Line = Record<string, unknown> & { msg: string };

/** A JSON logger at debug whose lines the test reads, as a worker's stdout would carry them. */
function captured(): { log: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const log = createLogger(
    { LOG_LEVEL: 'debug', LOG_PRETTY: false },
    { process: 'worker' },
    {
      write: (line: string) => void lines.push(JSON.parse(line) as Line),
    },
  );
  return { log, lines };
}

/** Lines about the process, not about a job. */
const PROCESS_LINES = [
  'worker started',
  'worker stopping: no new jobs, waiting for in-flight ones',
  'worker stopped',
  'metrics listening',
  'grace period over: aborting in-flight jobs',
];

/** Every line about a job carries queue, job id, type and attempt; returns those lines. */
function expectJobFields(lines: Line[], types: readonly string[]): Line[] {
  const jobLines = lines.filter((l) => !PROCESS_LINES.includes(l.msg));
  for (const line of jobLines) {
    const where = JSON.stringify(line);
    expect(typeof line['queue'], where).toBe('string');
    expect(typeof line['jobId'], where).toBe('string');
    expect(types, where).toContain(line['type']);
    expect(Number.isInteger(line['attempt']) && (line['attempt'] as number) >= 1, where).toBe(true);
  }
  return jobLines;
}

describe('job logs', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.reverse()) await step();
    cleanup.length = 0;
  });

  it("a worker's lines about a job, its handler's included, each carry queue, job id, type and attempt", async () => {
    const world = new StowageWorld({ INGEST_CHUNK_SIZE: '2' });
    cleanup.push(() => world.close());
    await world.initStores();
    const api = await world.startApi();
    const { log, lines } = captured();
    const worker = await startWorker({ ...world.config, WORKER_METRICS_PORT: 0 }, log, ['ingest']);
    cleanup.push(() => worker.stop());

    const res = await fetch(`${api}/v1/ingest/iocs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEYS.ingest}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        source_id: 'otx',
        iocs: ['a', 'b', 'c'].map((x) => ({
          type: 'domain',
          value: `${x}.logs.example.com`,
          threat_type: 'c2',
          confidence: 0.9,
          first_seen: new Date(Date.now() - 7_200_000).toISOString(),
          last_seen: new Date(Date.now() - 3_600_000).toISOString(),
        })),
        watermark: { timestamp: '2026-01-01T00:00:00Z' },
      }),
    });
    expect(res.status).toBe(202);
    await eventually(
      () =>
        Promise.resolve(
          lines.filter((l) => l.msg === 'job completed').length >= 3 ? true : undefined,
        ),
      20_000,
      'two inserts and the watermark commit completed',
    );

    const jobLines = expectJobFields(lines, ['iocs.insert', 'watermark.commit']);
    const messages = new Set(jobLines.map((l) => l.msg));
    for (const msg of ['job started', 'job progress', 'job completed', 'iocs upserted'])
      expect(messages, msg).toContain(msg);
    // The handler's own line is bound to the job it ran in.
    const upserted = jobLines.filter((l) => l.msg === 'iocs upserted');
    expect(upserted.map((l) => [l['queue'], l['type']])).toEqual([
      ['ingest', 'iocs.insert'],
      ['ingest', 'iocs.insert'],
    ]);
    expect(new Set(upserted.map((l) => l['jobId'])).size).toBe(2);
  });

  it('retries and failures name the job and the attempt they happened on', async () => {
    const world = new TestWorld();
    cleanup.push(() => world.close());
    const { log, lines } = captured();
    const host = new WorkerHost({
      connect: (name) => world.deps.connectRedis(name),
      prefix: world.config.QUEUE_PREFIX,
      queues: ['ingest'],
      registry: world.registry,
      handlers: testHandlers(world.deps.redis, world.sink),
      log,
      metrics: world.deps.metrics,
    });
    host.start();
    await host.ready();
    cleanup.push(() => host.stop(500));

    const flaky = await world.producer.enqueue('test.fail', {
      mode: 'transient',
      succeedOnAttempt: 2,
    });
    const refused = await world.producer.enqueue('test.fail', { mode: 'permanent' });
    const exhausted = await world.producer.enqueue('test.fail', { mode: 'transient' });
    const ingest = world.queues.get('ingest');
    await eventually(
      async () => {
        const states = await Promise.all(
          [flaky, refused, exhausted].map((j) => ingest.getJobState(j.id)),
        );
        return states.join() === 'completed,failed,failed' ? true : undefined;
      },
      15_000,
      'the three jobs settled',
    );

    const jobLines = expectJobFields(lines, ['test.fail']);
    const of = (id: string | undefined) =>
      jobLines.filter((l) => l['jobId'] === id).map((l) => [l['attempt'], l.msg]);
    expect(of(flaky.id)).toEqual([
      [1, 'job started'],
      [1, 'job failed, will be retried'],
      [2, 'job started'],
      [2, 'job completed'],
    ]);
    expect(of(refused.id)).toEqual([
      [1, 'job started'],
      [1, 'job failed permanently: refused on purpose'],
    ]);
    // test.fail allows 3 attempts: two retried, the last one final.
    expect(of(exhausted.id)).toEqual([
      [1, 'job started'],
      [1, 'job failed, will be retried'],
      [2, 'job started'],
      [2, 'job failed, will be retried'],
      [3, 'job started'],
      [3, 'job failed, no attempts left'],
    ]);
    const final = jobLines.find(
      (l) => l['jobId'] === exhausted.id && l['attempt'] === 3 && l.msg !== 'job started',
    );
    expect(final).toMatchObject({ level: 50, code: 'test_unavailable', maxAttempts: 3 });
  });

  it("iocs.insert and artifact.upload write their notable steps to the job's own log (the board's Logs tab), a URL's query redacted", async () => {
    const overrides = await artifactOverrides();
    const world = new StowageWorld({ ...overrides, URL_SOURCE_ALLOWLIST: '127.0.0.1' });
    cleanup.push(() => world.close().finally(() => dropArtifacts(world.deps.s3, overrides)));
    await world.initStores();
    const body = randomBytes(64 * 1024);
    const server = createServer((req, res) => {
      if (req.url?.startsWith('/feed.bin?')) res.writeHead(200).end(body);
      else res.writeHead(404).end();
    });
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    cleanup.push(
      () =>
        new Promise((resolve) => {
          server.closeAllConnections();
          server.close(resolve);
        }),
    );
    await world.startWorker(['ingest', 'artifacts']);

    const hour = 3_600_000;
    const insert = await world.producer.enqueue('iocs.insert', {
      iocs: ['a', 'b', 'c'].map((x) => ({
        type: 'domain' as const,
        value: `${x}.notes.example.com`,
        threat_type: 'c2',
        confidence: 0.9,
        source: 'otx',
        first_seen: new Date(Date.now() - 2 * hour).toISOString(),
        last_seen: new Date(Date.now() - hour).toISOString(),
      })),
    });
    const spooled = join(overrides.SPOOL_DIR!, 'raw');
    const sha256 = await writeRandomFile(spooled, 48 * 1024);
    const fromSpool = await spoolForJob(world.producer, overrides.SPOOL_DIR!, spooled, {
      target: { kind: 'sample', request_id: 'req-notes', filename: 'spooled.bin' },
      source: { size: 48 * 1024, sha256 },
    });
    const spoolJob = await world.producer.enqueue('artifact.upload', fromSpool.payload, {
      trusted: true,
      jobId: fromSpool.jobId,
    });
    const secret = 'sig-0123456789abcdef';
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/feed.bin?token=${secret}`;
    const urlJob = await world.producer.enqueue('artifact.upload', {
      target: { kind: 'sample', request_id: 'req-notes', filename: 'fetched.bin' },
      source: { type: 'url', url },
    });

    const done = async (queue: 'ingest' | 'artifacts', id: string) => {
      const q = world.queues.get(queue);
      const state = await eventually(
        async () => {
          const s = await q.getJobState(id);
          return s === 'completed' || s === 'failed' ? s : undefined;
        },
        30_000,
        `job ${id} finished`,
      );
      expect(state, (await q.getJob(id))?.failedReason).toBe('completed');
      // Each line as Bull Board's Logs tab reads it: an ISO time, then the note.
      const { logs } = await q.getJobLogs(id);
      for (const line of logs) expect(line).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z /);
      return logs.map((line) => line.slice(line.indexOf(' ') + 1));
    };

    expect(await done('ingest', insert.id)).toEqual([
      'batch merged: 3 rows received, 3 written to the hot store, 3 cached, 0 evicted from the cache',
    ]);
    const bucket = world.deps.artifacts.bucketFor('sample');
    expect(await done('artifacts', spoolJob.id)).toEqual([
      `upload started: ${bucket}/samples/req-notes/spooled.bin from the spool, ${48 * 1024} bytes`,
      `verified and completed: ${48 * 1024} bytes, sha256 ${sha256}, parts: 1 (0 sent by an earlier attempt)`,
    ]);
    const fetched = await done('artifacts', urlJob.id);
    const bodySha = createHash('sha256').update(body).digest('hex');
    expect(fetched).toEqual([
      `upload started: ${bucket}/samples/req-notes/fetched.bin from ${url.slice(0, url.indexOf('?'))}?[redacted]`,
      `verified and completed: ${body.length} bytes, sha256 ${bodySha}`,
    ]);
    // Not in the stored lines at all (not only hidden by the board's redacting adapter).
    expect(JSON.stringify(fetched)).not.toContain(secret);
  }, 90_000);
});
