// Who may call what: every route with no key, an unknown key, a key of the wrong scope and
// one of the right scope; the dashboard's read-only mode; and no secret in logs or in the
// job data the dashboard shows.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobRegistry } from '../../jobs/job-registry.js';
import { JOB_DEFINITIONS } from '../../jobs/registry.js';
import { apiRouteTable } from '../../src/api/routes.js';
import { loadConfig, type Scope } from '../../src/config.js';
import { ValidationError } from '../../src/errors/index.js';
import { removeBucket } from '../helpers/buckets.js';
import { freePort, runCli, type CliProcess } from '../helpers/cli-process.js';
import { send, type RawAnswer } from '../helpers/raw-http.js';
import { StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';

const T1 = '2026-01-02T00:00:00Z';
const IOC = {
  type: 'domain' as const,
  value: 'evil.example.com',
  confidence: 0.9,
  first_seen: '2026-01-01T00:00:00Z',
  last_seen: T1,
};

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const basic = (key: string) => ({
  authorization: `Basic ${Buffer.from(`someone:${key}`).toString('base64')}`,
});
const UNKNOWN_KEY = 'unknown-key-0123456789abcdef';

/** A key that lacks the scope (admin holds every scope, so it is never the wrong one). */
const WRONG_KEY: Record<Scope, string> = {
  ingest: TEST_KEYS.read,
  artifacts: TEST_KEYS.ingest,
  read: TEST_KEYS.ingest,
  admin: TEST_KEYS.artifacts,
};

interface Route {
  method: string;
  path: string;
  scope: Scope;
  body?: string;
  contentType?: string;
}

const DASHBOARD = '/admin/queues';

/** Every route of src/api/routes and the dashboard, with a minimal body. */
const ROUTES: Route[] = [
  { method: 'POST', path: '/v1/jobs/iocs.insert', scope: 'ingest', body: '{}' },
  { method: 'POST', path: '/v1/jobs/watermark.commit', scope: 'ingest', body: '{}' },
  { method: 'POST', path: '/v1/jobs/artifact.upload', scope: 'artifacts', body: '{}' },
  { method: 'POST', path: '/v1/jobs/cache.promote', scope: 'admin', body: '{"limit":0}' },
  { method: 'POST', path: '/v1/jobs/archive.lock', scope: 'admin', body: '{"day":"x"}' },
  { method: 'POST', path: '/v1/jobs/retention.cleanup', scope: 'admin', body: '{"targets":[]}' },
  { method: 'POST', path: '/v1/jobs/uploads.abort-stale', scope: 'admin', body: '{"dry_run":1}' },
  { method: 'POST', path: '/v1/jobs/iocs.insert/bulk', scope: 'ingest', body: '{"payloads":[]}' },
  { method: 'GET', path: '/v1/jobs/iocs.insert.nope', scope: 'read' },
  { method: 'GET', path: '/v1/jobs', scope: 'read' },
  { method: 'DELETE', path: '/v1/jobs/iocs.insert.nope', scope: 'admin' },
  { method: 'POST', path: '/v1/jobs/iocs.insert.nope/cancel', scope: 'admin' },
  { method: 'POST', path: '/v1/ingest/iocs', scope: 'ingest', body: '{}' },
  { method: 'GET', path: '/v1/iocs/domain/evil.example.com', scope: 'read' },
  { method: 'DELETE', path: '/v1/cache/iocs/domain/evil.example.com', scope: 'ingest' },
  { method: 'GET', path: '/v1/cache/stats', scope: 'read' },
  { method: 'GET', path: '/api/v1/watermarks/feed-a', scope: 'read' },
  { method: 'PUT', path: '/api/v1/watermarks/feed-a', scope: 'ingest', body: '{}' },
  { method: 'POST', path: '/api/v1/watermarks/feed-a/rewind', scope: 'admin', body: '{}' },
  { method: 'GET', path: '/api/v1/watermarks/feed-a/rewinds', scope: 'read' },
  { method: 'POST', path: '/v1/maintenance/cache.promote', scope: 'admin', body: '{"limit":0}' },
  {
    method: 'POST',
    path: '/v1/artifacts/sample',
    scope: 'artifacts',
    body: 'no ids',
    contentType: 'text/plain',
  },
  { method: 'GET', path: '/v1/artifacts/stats', scope: 'read' },
  { method: 'GET', path: '/v1/artifacts/sample/req-1', scope: 'read' },
  { method: 'POST', path: '/v1/artifacts/sample/presign', scope: 'read', body: '{}' },
  { method: 'GET', path: '/v1/config', scope: 'read' },
  { method: 'GET', path: '/v1/config/notification_rules', scope: 'read' },
  { method: 'PUT', path: '/v1/config/notification_rules', scope: 'admin', body: '{"value":1}' },
  { method: 'GET', path: '/v1/plans', scope: 'read' },
  { method: 'GET', path: '/v1/plans/1', scope: 'read' },
  { method: 'POST', path: '/v1/plans/1/approve', scope: 'admin', body: '{"digest":"x"}' },
  { method: 'GET', path: '/status', scope: 'read' },
  { method: 'GET', path: '/v1/artifacts/sample/objects/samples%2Freq-1%2Fa.log', scope: 'read' },
  {
    method: 'DELETE',
    path: '/v1/artifacts/sample/objects/samples%2Freq-1%2Fa.log',
    scope: 'admin',
  },
  { method: 'POST', path: '/v1/ingest/detections', scope: 'ingest', body: '{}' },
  { method: 'GET', path: '/v1/detections', scope: 'read' },
  { method: 'GET', path: '/v1/detections/stats', scope: 'read' },
  { method: 'GET', path: '/v1/detections/det-1', scope: 'read' },
  { method: 'POST', path: '/v1/detections/det-1/status', scope: 'ingest', body: '{}' },
  { method: 'POST', path: '/v1/ingest/activities', scope: 'ingest', body: '{}' },
  { method: 'GET', path: '/v1/activities', scope: 'read' },
  { method: 'GET', path: '/v1/activities/stats', scope: 'read' },
  { method: 'POST', path: '/v1/records', scope: 'ingest', body: '{}' },
  { method: 'GET', path: '/v1/records/unique-id', scope: 'read' },
  { method: 'GET', path: '/v1/iocs', scope: 'read' },
  { method: 'GET', path: '/v1/iocs/stats', scope: 'read' },
  { method: 'DELETE', path: '/v1/iocs/domain/evil.example.com', scope: 'admin' },
  { method: 'GET', path: '/v1/export/stix', scope: 'read' },
  { method: 'GET', path: '/v1/export/misp', scope: 'read' },
  { method: 'GET', path: '/v1/stats/pools', scope: 'read' },
  { method: 'GET', path: '/v1/dead-letters', scope: 'read' },
  { method: 'GET', path: '/v1/dead-letters/1', scope: 'read' },
  { method: 'POST', path: '/v1/dead-letters/1/retry', scope: 'admin' },
  { method: 'DELETE', path: '/v1/dead-letters/1', scope: 'admin' },
  { method: 'POST', path: '/v1/dead-letters/purge', scope: 'admin', body: '{}' },
  { method: 'GET', path: '/v1/schedules', scope: 'read' },
  { method: 'GET', path: '/v1/usage', scope: 'read' },
  { method: 'GET', path: DASHBOARD, scope: 'read' },
  { method: 'GET', path: `${DASHBOARD}/api/queues`, scope: 'read' },
  { method: 'GET', path: `${DASHBOARD}/api/redis/stats`, scope: 'read' },
  { method: 'GET', path: `${DASHBOARD}/jobs`, scope: 'read' },
  { method: 'POST', path: `${DASHBOARD}/jobs/no-such-job/cancel`, scope: 'admin' },
];

/** Random buckets and a spool of a world's own. */
async function artifactPlace(): Promise<Record<string, string>> {
  const id = randomBytes(4).toString('hex');
  return {
    ARTIFACT_BUCKET_SAMPLES: `t-${id}-samples`,
    ARTIFACT_BUCKET_TA_BUNDLES: `t-${id}-tas`,
    ARTIFACT_BUCKET_DEBUG_BUNDLES: `t-${id}-debug`,
    SPOOL_DIR: await mkdtemp(join(tmpdir(), 'stowage-access-')),
  };
}

async function dropPlace(world: StowageWorld, place: Record<string, string>): Promise<void> {
  for (const [name, value] of Object.entries(place)) {
    if (name === 'SPOOL_DIR') await rm(value, { recursive: true, force: true });
    else await removeBucket(world.deps.s3, value).catch(() => undefined);
  }
}

describe('the route list above', () => {
  it('covers every authenticated operation of the api', () => {
    const config = loadConfig({ API_KEYS: `t:${TEST_KEYS.admin}:admin` });
    const registry = new JobRegistry(JOB_DEFINITIONS);
    const missing = apiRouteTable(config, registry)
      .filter((r) => r.access !== 'public')
      .filter((r) => {
        const template = new RegExp(`^${r.path.replace(/\{\w+\}/g, '[^/]+')}$`);
        return !ROUTES.some((c) => c.method === r.method.toUpperCase() && template.test(c.path));
      })
      .map((r) => `${r.method.toUpperCase()} ${r.path}`);
    expect(missing).toEqual([]);
  });
});

describe('access control', () => {
  let world: StowageWorld;
  let base: string;
  let place: Record<string, string>;

  beforeAll(async () => {
    place = await artifactPlace();
    world = new StowageWorld(place);
    await world.initStores();
    base = await world.startApi();
  });
  afterAll(async () => {
    await world?.close();
    await dropPlace(world, place);
  });

  const call = (route: Route, headers: Record<string, string>) =>
    send(base, {
      method: route.method,
      path: route.path,
      headers: {
        ...headers,
        ...(route.body === undefined
          ? {}
          : { 'content-type': route.contentType ?? 'application/json' }),
      },
      ...(route.body === undefined ? {} : { body: route.body }),
    });

  it('every route × {no key, unknown key, wrong scope, right scope (Bearer and Basic), admin}', async () => {
    const failures: string[] = [];
    let cases = 0;
    const expectStatus = (
      label: string,
      res: RawAnswer,
      ok: (status: number) => boolean,
      want: string,
    ) => {
      cases += 1;
      if (!ok(res.status)) {
        failures.push(
          `${label}: ${res.status} (want ${want}) ${res.body.toString().slice(0, 200)}`,
        );
      }
    };
    const allowed = (s: number) => s !== 401 && s !== 403 && s < 500;
    for (const route of ROUTES) {
      const label = `${route.method} ${route.path}`;
      const none = await call(route, {});
      expectStatus(`${label} without a key`, none, (s) => s === 401, '401');
      if (!none.headers['www-authenticate'])
        failures.push(`${label}: 401 without WWW-Authenticate`);
      expectStatus(
        `${label} unknown Bearer key`,
        await call(route, bearer(UNKNOWN_KEY)),
        (s) => s === 401,
        '401',
      );
      expectStatus(
        `${label} unknown Basic key`,
        await call(route, basic(UNKNOWN_KEY)),
        (s) => s === 401,
        '401',
      );
      expectStatus(
        `${label} malformed Authorization`,
        await call(route, { authorization: 'Bearer' }),
        (s) => s === 401,
        '401',
      );
      expectStatus(
        `${label} key as user name`,
        await call(route, {
          authorization: `Basic ${Buffer.from(`${TEST_KEYS.admin}:`).toString('base64')}`,
        }),
        (s) => s === 401,
        '401',
      );
      expectStatus(
        `${label} wrong scope`,
        await call(route, bearer(WRONG_KEY[route.scope])),
        (s) => s === 403,
        '403',
      );
      expectStatus(
        `${label} right scope (Bearer)`,
        await call(route, bearer(TEST_KEYS[route.scope])),
        allowed,
        'not 401/403/5xx',
      );
      expectStatus(
        `${label} right scope (Basic)`,
        await call(route, basic(TEST_KEYS[route.scope])),
        allowed,
        'not 401/403/5xx',
      );
      expectStatus(
        `${label} admin`,
        await call(route, bearer(TEST_KEYS.admin)),
        allowed,
        'not 401/403/5xx',
      );
    }
    expect(failures, failures.join('\n')).toEqual([]);
    console.log(`access-control: ${ROUTES.length} routes, ${cases} route × key cases`);
  });

  it('a read-only dashboard key can read but no job or queue action goes through', async () => {
    const ingest = world.queues.get('ingest');
    const waiting = await world.producer.enqueue('iocs.insert', {
      iocs: [{ ...IOC, source: 'feed-a' }],
    });
    const delayed = await ingest.add(
      'iocs.insert',
      { iocs: [] },
      { jobId: 'delayed-1', delay: 3_600_000 },
    );
    const before = await ingest.getJobCounts();
    // The job carries a reference to its staged records; neither may change.
    const waitingData = (await ingest.getJob(waiting.id))?.data as {
      batch: { digest: string; records: number };
    };
    expect(waitingData.batch.digest).toMatch(/^[0-9a-f]{64}$/);

    const read = await send(base, {
      method: 'GET',
      path: `${DASHBOARD}/api/queues?activeQueue=ingest&status=waiting&page=1`,
      headers: basic(TEST_KEYS.read),
    });
    expect(read.status).toBe(200);
    const queues = (read.json as { queues: { name: string; readOnlyMode: boolean }[] }).queues;
    expect(queues.every((q) => q.readOnlyMode)).toBe(true);
    const job = await send(base, {
      method: 'GET',
      path: `${DASHBOARD}/api/queues/ingest/${waiting.id}`,
      headers: bearer(TEST_KEYS.read),
    });
    expect(job.status).toBe(200);

    const q = `${DASHBOARD}/api/queues/ingest`;
    const actions: [string, string, string?][] = [
      ['PUT', `${q}/retry/failed`],
      ['PUT', `${q}/retry/completed`],
      ['PUT', `${q}/clean/waiting`],
      ['PUT', `${q}/clean/delayed`],
      ['PUT', `${q}/clean/completed`],
      ['PUT', `${q}/pause`],
      ['PUT', `${q}/resume`],
      ['PUT', `${q}/promote`],
      ['PUT', `${q}/empty`],
      ['PUT', `${q}/obliterate`],
      ['DELETE', `${q}/obliterate`],
      ['PUT', `${q}/concurrency`, '{"concurrency":1}'],
      ['PUT', `${q}/rate-limit`, '{"max":1,"duration":1000}'],
      ['POST', `${q}/add`, '{"name":"iocs.insert","data":{}}'],
      ['PUT', `${q}/${waiting.id}/retry`],
      ['PUT', `${q}/${waiting.id}/retry/failed`],
      ['PUT', `${q}/${waiting.id}/clean`],
      ['PUT', `${q}/${delayed.id}/promote`],
      ['PUT', `${q}/${waiting.id}/update-data`, '{"data":{"iocs":[]}}'],
      ['PUT', `${q}/${delayed.id}/delay`, '{"delay":1}'],
      ['PUT', `${q}/${waiting.id}/priority`, '{"priority":1}'],
      ['PUT', `${DASHBOARD}/api/queues/pause`],
      ['POST', `${DASHBOARD}/api/metrics/history/purge`],
    ];
    const failures: string[] = [];
    for (const [method, path, body] of actions) {
      for (const [who, headers, want] of [
        ['no key', {}, [401]],
        ['unknown key', bearer(UNKNOWN_KEY), [401]],
        ['ingest key', basic(TEST_KEYS.ingest), [403]],
        ['read key', basic(TEST_KEYS.read), [403]],
      ] as const) {
        const res = await send(base, {
          method,
          path,
          headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
          ...(body ? { body } : {}),
        });
        if (!(want as readonly number[]).includes(res.status))
          failures.push(
            `${who} ${method} ${path}: ${res.status} ${res.body.toString().slice(0, 120)}`,
          );
      }
    }
    expect(failures, failures.join('\n')).toEqual([]);
    expect(await ingest.isPaused()).toBe(false);
    expect(await ingest.getJobCounts()).toEqual(before);
    expect(await ingest.getJobState(delayed.id!)).toBe('delayed');
    expect((await ingest.getJob(waiting.id))?.data).toEqual(waitingData);
    expect(JSON.parse(await world.deps.batches.load(waiting.id, waitingData.batch))).toMatchObject([
      { value: 'evil.example.com', sources: ['feed-a'] },
    ]);

    // The same action with an admin key does go through: the refusals above are about the key.
    const pause = await send(base, {
      method: 'PUT',
      path: `${q}/pause`,
      headers: basic(TEST_KEYS.admin),
    });
    expect(pause.status).toBe(200);
    expect(await ingest.isPaused()).toBe(true);
    await ingest.resume();
  });

  it('a URL source with credentials is refused before it is stored; the dashboard shows no secret', async () => {
    const withPassword = 'https://collector:s3cr3t-pass-xyz@artifacts.example.com/sample.log?x=1';
    const res = await send(base, {
      method: 'POST',
      path: '/v1/jobs/artifact.upload',
      headers: { ...bearer(TEST_KEYS.artifacts), 'content-type': 'application/json' },
      body: JSON.stringify({
        target: { kind: 'sample', request_id: 'req-9', filename: 'sample.log' },
        source: { type: 'url', url: withPassword },
      }),
    });
    expect(res.status).toBe(400);
    expect((res.json as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual([
      'source.url',
    ]);
    await expect(
      world.producer.enqueue('artifact.upload', {
        target: { kind: 'sample', request_id: 'req-9', filename: 'sample.log' },
        source: { type: 'url', url: withPassword },
      }),
    ).rejects.toBeInstanceOf(ValidationError);

    // Jobs a read-only viewer may look at: an upload from the spool, a URL upload, an ingest.
    const upload = await send(base, {
      method: 'POST',
      path: '/v1/artifacts/sample?request_id=req-9&filename=a.log',
      headers: {
        ...bearer(TEST_KEYS.artifacts),
        'content-type': 'text/plain',
        'x-artifact-meta-origin': 'otx',
      },
      body: 'bytes',
    });
    expect(upload.status).toBe(202);
    await world.producer.enqueue('artifact.upload', {
      target: { kind: 'sample', request_id: 'req-9', filename: 'b.log' },
      source: {
        type: 'url',
        url: 'https://artifacts.example.com/b.log?X-Amz-Signature=sig-0123456789abcdef',
      },
    });
    // The spool file's name binds the upload to its job: no reader ever sees it.
    const spoolJob = await world.queues.get('artifacts').getJob((upload.json as { id: string }).id);
    const spoolName = (spoolJob?.data as { source: { file: string } }).source.file;
    expect(spoolName).toMatch(/\.[0-9a-f]{32}$/);
    const ingest = await send(base, {
      method: 'POST',
      path: '/v1/ingest/iocs',
      headers: { ...basic(TEST_KEYS.ingest), 'content-type': 'application/json' },
      body: JSON.stringify({ source_id: 'feed-a', iocs: [IOC], watermark: { timestamp: T1 } }),
    });
    expect(ingest.status).toBe(202);

    const secrets = [
      ...Object.values(TEST_KEYS),
      's3cr3t-pass-xyz',
      'sig-0123456789abcdef',
      spoolName.split('.')[1]!,
      ...(world.config.S3_SECRET_ACCESS_KEY ? [world.config.S3_SECRET_ACCESS_KEY] : []),
    ];
    let shown = 0;
    for (const queue of ['artifacts', 'ingest']) {
      for (const status of ['latest', 'waiting', 'waiting-children', 'delayed']) {
        const page = await send(base, {
          method: 'GET',
          path: `${DASHBOARD}/api/queues?activeQueue=${queue}&status=${status}&page=1`,
          headers: bearer(TEST_KEYS.read),
        });
        expect(page.status).toBe(200);
        const text = page.body.toString();
        shown += (text.match(/"data":/g) ?? []).length;
        for (const secret of secrets) expect(text, `${queue}/${status}`).not.toContain(secret);
      }
    }
    expect(shown, 'the dashboard showed job data').toBeGreaterThan(0);
  });
});

describe('secrets in logs', () => {
  const procs: CliProcess[] = [];
  let place: Record<string, string>;
  let world: StowageWorld | undefined;
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    if (world) {
      await dropPlace(world, place);
      await world.close();
    }
  });

  it('api and worker logs at debug hold no API key, S3 secret or database password, whatever the requests', async () => {
    place = await artifactPlace();
    const port = await freePort();
    const id = randomBytes(5).toString('hex');
    const keys = {
      admin: `log-admin-${id}-secret`,
      ingest: `log-ingest-${id}-secret`,
      read: `log-read-${id}-secret`,
    };
    const dbPassword = `pg-pass-${id}`;
    const chPassword = `ch-pass-${id}`;
    const dbUrl = new URL(process.env.DATABASE_URL!);
    dbUrl.password = dbPassword;
    const env = {
      ...place,
      LOG_LEVEL: 'debug',
      LOG_PRETTY: 'false',
      API_PORT: String(port),
      API_KEYS: `a:${keys.admin}:admin,i:${keys.ingest}:ingest,r:${keys.read}:read`,
      QUEUE_PREFIX: `tlog${id}`,
      DATABASE_SCHEMA: `t_${id}`,
      DATABASE_URL: dbUrl.href,
      CLICKHOUSE_PASSWORD: chPassword,
      HOT_STORE: 'postgres',
    };
    // A world on the same prefix and schema, to clean up after the processes.
    world = new StowageWorld(env);
    await world.initStores();
    const api = runCli(['api'], env);
    const worker = runCli(['worker', '--queues', 'ingest,cache,artifacts'], env);
    procs.push(api, worker);
    const base = `http://127.0.0.1:${port}`;
    await eventually(
      async () => ((await fetch(`${base}/health`).catch(() => undefined))?.ok ? true : undefined),
      30_000,
      'api up',
    );
    await eventually(
      () => Promise.resolve(worker.output().includes('worker started') ? true : undefined),
      30_000,
      'worker up',
    );

    const json = { 'content-type': 'application/json' };
    const ingest = await send(base, {
      method: 'POST',
      path: '/v1/ingest/iocs',
      headers: { ...bearer(keys.ingest), ...json },
      body: JSON.stringify({ source_id: 'feed-log', iocs: [IOC], watermark: { timestamp: T1 } }),
    });
    expect(ingest.status).toBe(202);
    const { id: flowId } = ingest.json as { id: string };
    await eventually(
      async () => {
        const status = await send(base, {
          method: 'GET',
          path: `/v1/jobs/${flowId}`,
          headers: basic(keys.read),
        });
        return (status.json as { state: string }).state === 'completed' ? true : undefined;
      },
      30_000,
      'ingest flow completed',
    );
    // A job that fails, and a URL with a password that is refused.
    const upload = await send(base, {
      method: 'POST',
      path: '/v1/jobs/artifact.upload',
      headers: { ...bearer(keys.admin), ...json },
      body: JSON.stringify({
        target: { kind: 'sample', request_id: 'r', filename: 'f.log' },
        // No host is on URL_SOURCE_ALLOWLIST: the job fails for good.
        source: { type: 'url', url: 'https://files.example.com/f.log' },
      }),
    });
    expect(upload.status).toBe(202);
    const refused = await send(base, {
      method: 'POST',
      path: '/v1/jobs/artifact.upload',
      headers: { ...bearer(keys.admin), ...json },
      body: JSON.stringify({
        target: { kind: 'sample', request_id: 'r', filename: 'g.log' },
        source: { type: 'url', url: `https://u:${dbPassword}@example.com/x` },
      }),
    });
    expect(refused.status).toBe(400);
    for (const headers of [
      bearer(`${keys.admin}x`),
      basic(`${keys.read}x`),
      { authorization: `Basic ${Buffer.from(`${keys.admin}:`).toString('base64')}` },
      bearer(keys.read),
    ]) {
      await send(base, {
        method: 'POST',
        path: '/v1/maintenance/cache.promote',
        headers: { ...headers, ...json },
        body: '{}',
      });
      await send(base, { method: 'GET', path: `${DASHBOARD}/api/queues`, headers });
    }
    expect(
      (
        await send(base, {
          method: 'GET',
          path: `${DASHBOARD}/api/queues`,
          headers: basic(keys.read),
        })
      ).status,
    ).toBe(200);
    await eventually(
      async () => {
        const status = await send(base, {
          method: 'GET',
          path: `/v1/jobs/${(upload.json as { id: string }).id}`,
          headers: bearer(keys.read),
        });
        return (status.json as { state: string }).state === 'failed' ? true : undefined;
      },
      30_000,
      'upload failed',
    );

    api.child.kill('SIGTERM');
    worker.child.kill('SIGTERM');
    expect(await api.exited).toBe(0);
    expect(await worker.exited).toBe(0);
    const logs = api.output() + worker.output();
    expect(logs).toContain('"msg":"request"');
    const secrets = {
      ...keys,
      'wrong admin key': `${keys.admin}x`,
      'database password': dbPassword,
      'ClickHouse password': chPassword,
      ...(process.env.S3_SECRET_ACCESS_KEY
        ? { 'S3 secret': process.env.S3_SECRET_ACCESS_KEY }
        : {}),
    };
    for (const [what, secret] of Object.entries(secrets)) {
      expect(logs.includes(secret), `${what} in the logs`).toBe(false);
    }
  }, 120_000);
});
