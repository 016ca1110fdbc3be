// The record commands of the `stowage` CLI (iocs, activities, detections, artifacts) as real
// processes against the real services: each prints what the api answers, a bad flag exits
// 2 naming it before anything is printed, and what is not there exits 1.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activitySchema, toStoredActivity } from '../../src/domain/activity.js';
import type { StoredIoc } from '../../src/domain/ioc.js';
import { artifactOverrides, dropArtifacts } from '../helpers/artifacts.js';
import { runCli } from '../helpers/cli-process.js';
import { StowageWorld } from '../helpers/world.js';

/** What one finished `stowage` process printed, and how it exited. */
interface Finished {
  code: number | null;
  stdout: string;
  /** stdout's bytes (a download). */
  raw: Buffer;
  stderr: string;
}

/** Runs `stowage <args>` to its end, stdout and stderr apart. */
async function stowage(env: Record<string, string>, ...args: string[]): Promise<Finished> {
  const p = runCli(args, env);
  const out: Buffer[] = [];
  let stderr = '';
  p.child.stdout?.on('data', (d: Buffer) => out.push(d));
  p.child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await p.exited;
  const raw = Buffer.concat(out);
  return { code, stdout: raw.toString('utf8'), raw, stderr };
}

/** The JSON a command printed, after checking it exited 0. */
function jsonOf<T>(run: Finished): T {
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as T;
}

/** The environment that points a CLI process at a test world's schema, database and queues. */
function cliEnv(world: StowageWorld, extra: Record<string, string> = {}): Record<string, string> {
  return {
    QUEUE_PREFIX: world.config.QUEUE_PREFIX,
    DATABASE_SCHEMA: world.config.DATABASE_SCHEMA,
    CLICKHOUSE_DATABASE: world.config.CLICKHOUSE_DATABASE,
    HOT_STORE: world.config.HOT_STORE,
    ARCHIVE_ENABLED: 'false',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

// Each command is a whole process under tsx (seconds each on a busy machine): a test runs
// several, so it gets minutes, not vitest's default.
const CLI_TEST_MS = 300_000;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// Two days ago at 00:00 UTC: a window that has ended, inside the 7-day bound.
const DAY0 = Math.floor(Date.now() / DAY) * DAY - 2 * DAY;
const iso = (ms: number) => new Date(ms).toISOString();

const ioc = (
  type: StoredIoc['type'],
  value: string,
  confidence: number,
  extra: Partial<StoredIoc> = {},
): StoredIoc => ({
  type,
  value,
  threat_type: 'c2',
  confidence,
  sources: ['feed-a'],
  first_seen: new Date(DAY0),
  last_seen: new Date(DAY0 + HOUR),
  tags: [],
  ...extra,
});

const IOCS: StoredIoc[] = [
  ioc('domain', 'a.example.com', 0.9, { tags: ['apt'] }),
  ioc('domain', 'b.example.com', 0.95),
  ioc('domain', 'c.example.com', 0.4),
  ioc('domain', 'd.example.com', 0.85, { threat_type: 'phishing' }),
  ioc('ipv4', '10.1.2.3', 0.9),
  ioc('ipv4', '192.0.2.7', 0.6),
];

describe.each(['postgres', 'clickhouse'] as const)(
  'record commands on the %s hot store',
  (hotStore) => {
    let world: StowageWorld;
    let env: Record<string, string>;
    const run = (...args: string[]) => stowage(env, ...args);

    beforeAll(async () => {
      world = new StowageWorld({ HOT_STORE: hotStore, ARCHIVE_ENABLED: 'false' });
      await world.initStores();
      await world.deps.hotStore.upsert(IOCS);
      // A second sighting: the merged row takes the higher confidence and both sources.
      await world.deps.hotStore.upsert([
        ioc('domain', 'b.example.com', 0.5, { sources: ['feed-b'] }),
      ]);
      await world.deps.activities.insert(
        Array.from({ length: 5 }, (_, i) =>
          toStoredActivity(
            activitySchema.parse({
              event_id: `evt_${i}`,
              timestamp: iso(DAY0 + i * 60_000),
              source: i < 3 ? 'dns' : 'proxy',
              event_type: 'dns_query',
              domain: `host-${i}.example.com`,
            }),
          ),
        ),
      );
      env = cliEnv(world);
    }, 120_000);
    afterAll(async () => {
      await world?.close();
    });

    it(
      'iocs search filters, counts and pages as GET /v1/iocs does; iocs stats counts the store',
      async () => {
        interface Page {
          items: { type: string; value: string; confidence: number; sources: string[] }[];
          next_cursor: string | null;
          count?: number;
        }
        const first = jsonOf<Page>(
          await run(
            'iocs',
            'search',
            '--type',
            'domain',
            '--min-confidence',
            '0.8',
            '--count',
            '--limit',
            '2',
          ),
        );
        expect(first.count).toBe(3);
        expect(first.items.map((i) => i.value)).toEqual(['a.example.com', 'b.example.com']);
        expect(first.items[1]).toMatchObject({ confidence: 0.95, sources: ['feed-a', 'feed-b'] });
        expect(first.next_cursor).not.toBeNull();
        const second = jsonOf<Page>(
          await run(
            'iocs',
            'search',
            '--type',
            'domain',
            '--min-confidence',
            '0.8',
            '--limit',
            '2',
            '--cursor',
            first.next_cursor!,
          ),
        );
        expect(second.items.map((i) => i.value)).toEqual(['d.example.com']);
        expect(second.next_cursor).toBeNull();
        const network = jsonOf<Page>(await run('iocs', 'search', '--cidr', '10.0.0.0/8'));
        expect(network.items.map((i) => i.value)).toEqual(['10.1.2.3']);

        const stats = jsonOf<{ total: number; by_type: Record<string, number> }>(
          await run('iocs', 'stats'),
        );
        expect(stats.total).toBe(IOCS.length);
        expect(stats.by_type).toMatchObject({ domain: 4, ipv4: 2 });
      },
      CLI_TEST_MS,
    );

    it(
      'iocs get reads one IOC (--no-cache skips the cache); iocs delete removes it, and get then exits 1',
      async () => {
        interface Lookup {
          cached: boolean;
          tier: string;
          ioc: { value: string; confidence: number };
        }
        const got = jsonOf<Lookup>(await run('iocs', 'get', 'domain', 'A.Example.com'));
        expect(got).toMatchObject({
          tier: 'hot',
          ioc: { value: 'a.example.com', confidence: 0.9 },
        });
        const direct = jsonOf<Lookup>(
          await run('iocs', 'get', 'domain', 'a.example.com', '--no-cache'),
        );
        expect(direct).toMatchObject({ cached: false, tier: 'hot' });

        const deleted = jsonOf<{ deleted: boolean; value: string }>(
          await run('iocs', 'delete', 'ipv4', '192.0.2.7'),
        );
        expect(deleted).toMatchObject({ deleted: true, value: '192.0.2.7' });
        expect(await world.deps.hotStore.get('ipv4', '192.0.2.7')).toBeUndefined();
        const gone = await run('iocs', 'get', 'ipv4', '192.0.2.7');
        expect(gone.code).toBe(1);
        expect(gone.stderr).toContain('no ipv4 192.0.2.7');
        expect(gone.stdout).toBe('');
        const again = await run('iocs', 'delete', 'ipv4', '192.0.2.7');
        expect(again.code).toBe(1);
      },
      CLI_TEST_MS,
    );

    it(
      'iocs export-stix streams a parsable STIX 2.1 bundle of the matching indicators, continued by its cursor; export-misp the same as a MISP event',
      async () => {
        interface Bundle {
          type: string;
          id: string;
          objects: { type: string; spec_version: string; pattern: string }[];
          x_stowage_next_cursor?: string;
        }
        const bundle = jsonOf<Bundle>(await run('iocs', 'export-stix', '--type', 'domain'));
        expect(bundle.type).toBe('bundle');
        expect(bundle.id).toMatch(/^bundle--[0-9a-f-]{36}$/);
        expect(bundle.objects.map((o) => o.pattern)).toEqual(
          ['a', 'b', 'c', 'd'].map((h) => `[domain-name:value = '${h}.example.com']`),
        );
        expect(
          bundle.objects.every((o) => o.type === 'indicator' && o.spec_version === '2.1'),
        ).toBe(true);
        expect(bundle.x_stowage_next_cursor).toBeUndefined();

        const head = jsonOf<Bundle>(
          await run(
            'iocs',
            'export-stix',
            '--type',
            'domain',
            '--min-confidence',
            '0.8',
            '--limit',
            '2',
          ),
        );
        expect(head.objects).toHaveLength(2);
        expect(head.x_stowage_next_cursor).toBeDefined();
        const rest = jsonOf<Bundle>(
          await run(
            'iocs',
            'export-stix',
            '--type',
            'domain',
            '--min-confidence',
            '0.8',
            '--cursor',
            head.x_stowage_next_cursor!,
          ),
        );
        expect(rest.objects.map((o) => o.pattern)).toEqual([
          "[domain-name:value = 'd.example.com']",
        ]);

        // The same filters as one MISP event.
        const misp = jsonOf<{ Event: { Attribute: { type: string; value: string }[] } }>(
          await run('iocs', 'export-misp', '--type', 'domain'),
        );
        expect(misp.Event.Attribute.map((a) => `${a.type} ${a.value}`)).toEqual(
          ['a', 'b', 'c', 'd'].map((h) => `domain ${h}.example.com`),
        );
      },
      CLI_TEST_MS,
    );

    it(
      'activities search pages a window in time order; activities stats counts it',
      async () => {
        interface Page {
          activities: { event_id: string; source: string }[];
          next_cursor: string | null;
        }
        const window = ['--since', iso(DAY0), '--until', iso(DAY0 + HOUR)];
        const first = jsonOf<Page>(await run('activities', 'search', ...window, '--limit', '3'));
        expect(first.activities.map((a) => a.event_id)).toEqual(['evt_0', 'evt_1', 'evt_2']);
        const rest = jsonOf<Page>(
          await run(
            'activities',
            'search',
            ...window,
            '--limit',
            '3',
            '--cursor',
            first.next_cursor!,
          ),
        );
        expect(rest.activities.map((a) => a.event_id)).toEqual(['evt_3', 'evt_4']);
        expect(rest.next_cursor).toBeNull();
        const proxy = jsonOf<Page>(
          await run('activities', 'search', ...window, '--source', 'proxy'),
        );
        expect(proxy.activities.map((a) => a.event_id)).toEqual(['evt_3', 'evt_4']);

        const stats = jsonOf<{ total: number; counts: { source: string; count: number }[] }>(
          await run('activities', 'stats', ...window),
        );
        expect(stats.total).toBe(5);
        expect(stats.counts.find((c) => c.source === 'dns')?.count).toBe(3);
      },
      CLI_TEST_MS,
    );

    it(
      'a bad flag value exits 2 naming the flag, and prints nothing on stdout',
      async () => {
        const confidence = await run('iocs', 'search', '--min-confidence', '2');
        expect(confidence.code).toBe(2);
        expect(confidence.stderr).toContain('--min-confidence');
        expect(confidence.stdout).toBe('');
        // Checked by the use case once connected: a cursor it never gave out.
        const cursor = await run('iocs', 'export-stix', '--cursor', 'bm90LWEtY3Vyc29y');
        expect(cursor.code).toBe(2);
        expect(cursor.stderr).toContain('--cursor');
        expect(cursor.stdout).toBe('');
        const wide = await run(
          'activities',
          'stats',
          '--since',
          iso(DAY0 - 7 * DAY),
          '--until',
          iso(DAY0 + HOUR),
        );
        expect(wide.code).toBe(2);
        expect(wide.stderr).toContain('--since');
        const type = await run('iocs', 'get', 'hostname', 'x');
        expect(type.code).toBe(2);
        expect(type.stderr).toContain('<type>');
      },
      CLI_TEST_MS,
    );
  },
);

describe('detections and artifacts commands', () => {
  let world: StowageWorld;
  let env: Record<string, string>;
  let overrides: Record<string, string>;
  let dir: string;
  const run = (...args: string[]) => stowage(env, ...args);
  const bytes = randomBytes(3000);
  const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

  const detection = (id: string, minutesAgo: number, severity: string) => ({
    detection_id: id,
    timestamp: iso(Date.now() - minutesAgo * 60_000),
    ioc_value: 'evil.example.com',
    ioc_type: 'domain',
    activity_event_id: `evt_${id}`,
    activity_source: 'dns',
    severity,
    confidence: 0.9,
    first_seen: iso(Date.now() - 2 * HOUR),
    last_seen: iso(Date.now() - HOUR),
    status: 'New',
    case_id: null,
  });

  beforeAll(async () => {
    overrides = await artifactOverrides();
    world = new StowageWorld({ ...overrides, ARCHIVE_ENABLED: 'false' });
    await world.initStores();
    await world.deps.detections.upsertBatch(
      JSON.stringify([
        detection('det_1', 30, 'HIGH'),
        detection('det_2', 20, 'CRITICAL'),
        detection('det_3', 10, 'HIGH'),
      ]),
    );
    await world.deps.s3.send(
      new PutObjectCommand({
        Bucket: overrides.ARTIFACT_BUCKET_SAMPLES,
        Key: 'samples/req-1/app.log',
        Body: bytes,
        ContentType: 'text/plain',
        Metadata: { sha256: sha256(bytes), size: String(bytes.length) },
      }),
    );
    await world.deps.s3.send(
      new PutObjectCommand({
        Bucket: overrides.ARTIFACT_BUCKET_TA_BUNDLES,
        Key: 'tas/req-1/v1/rev-1.tgz',
        Body: bytes.subarray(0, 10),
        Metadata: { sha256: sha256(bytes.subarray(0, 10)), size: '10' },
      }),
    );
    dir = await mkdtemp(join(tmpdir(), 'stowage-cli-'));
    env = cliEnv(world, overrides);
  }, 120_000);
  afterAll(async () => {
    await world?.close();
    if (world) await dropArtifacts(world.deps.s3, overrides);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(
    'detections list filters newest first, status moves one along its workflow, show has its history, stats counts',
    async () => {
      interface View {
        detection_id: string;
        status: string;
        case_id: string | null;
      }
      const high = jsonOf<{ detections: View[]; next_cursor: string | null }>(
        await run('detections', 'list', '--severity', 'HIGH', '--ioc', 'evil.example.com'),
      );
      expect(high.detections.map((d) => d.detection_id)).toEqual(['det_3', 'det_1']);

      const moved = jsonOf<{ changed: boolean; detection: View; change: { by: string } }>(
        await run(
          'detections',
          'status',
          'det_1',
          'Confirmed',
          '--case-id',
          'CASE-7',
          '--note',
          'seen',
          '--by',
          'alice',
        ),
      );
      expect(moved).toMatchObject({
        changed: true,
        detection: { status: 'Confirmed', case_id: 'CASE-7' },
        change: { by: 'cli:alice' },
      });
      const refused = await run('detections', 'status', 'det_1', 'New');
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('cannot move from "Confirmed" to "New"');

      const shown = jsonOf<{
        detection: View;
        history: { from: string; to: string; note: string }[];
      }>(await run('detections', 'show', 'det_1'));
      expect(shown.detection.status).toBe('Confirmed');
      expect(shown.history).toMatchObject([{ from: 'New', to: 'Confirmed', note: 'seen' }]);
      const missing = await run('detections', 'show', 'det_404');
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('no detection "det_404"');

      const stats = jsonOf<{
        total: number;
        by_severity: Record<string, number>;
        by_status: Record<string, number>;
      }>(await run('detections', 'stats'));
      expect(stats.total).toBe(3);
      expect(stats.by_severity).toMatchObject({ HIGH: 2, CRITICAL: 1 });
      expect(stats.by_status).toMatchObject({ New: 2, Confirmed: 1 });

      const bad = await run('detections', 'list', '--severity', 'SEVERE');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('--severity');
    },
    CLI_TEST_MS,
  );

  it(
    'artifacts head describes an object, get streams it to -o FILE or stdout (a --range too), delete removes it for good',
    async () => {
      const key = 'samples/req-1/app.log';
      const head = jsonOf<{ size: number; sha256: string; bucket: string }>(
        await run('artifacts', 'head', 'sample', key),
      );
      expect(head).toMatchObject({
        size: bytes.length,
        sha256: sha256(bytes),
        bucket: overrides.ARTIFACT_BUCKET_SAMPLES,
      });

      const file = join(dir, 'app.log');
      const saved = jsonOf<{ bytes: number; sha256_verified: boolean }>(
        await run('artifacts', 'get', 'sample', key, '-o', file),
      );
      expect(saved).toMatchObject({ bytes: bytes.length, sha256_verified: true });
      expect((await readFile(file)).equals(bytes)).toBe(true);

      const ranged = await run('artifacts', 'get', 'sample', key, '--range', '100-199');
      expect(ranged.code, ranged.stderr).toBe(0);
      expect(ranged.raw.equals(bytes.subarray(100, 200))).toBe(true);
      const past = await run('artifacts', 'get', 'sample', key, '--range', '5000-');
      expect(past.code).toBe(1);
      expect(past.stderr).toContain(`has ${bytes.length} bytes`);

      const protectedTa = await run('artifacts', 'delete', 'ta-bundle', 'tas/req-1/v1/rev-1.tgz');
      expect(protectedTa.code).toBe(1);
      expect(protectedTa.stderr).toContain('never deleted');

      const deleted = jsonOf<{ deleted: boolean; sha256: string }>(
        await run('artifacts', 'delete', 'sample', key, '--reason', 'cli test'),
      );
      expect(deleted).toMatchObject({ deleted: true, sha256: sha256(bytes) });
      const gone = await run('artifacts', 'head', 'sample', key);
      expect(gone.code).toBe(1);
      expect(gone.stderr).toContain('no sample');

      const badKey = await run('artifacts', 'get', 'sample', 'debug/run-1/x.zip');
      expect(badKey.code).toBe(2);
      expect(badKey.stderr).toContain('<key>');
    },
    CLI_TEST_MS,
  );
});
