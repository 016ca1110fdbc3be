// A corpus of bad input against every route: each answer must be a 4xx problem naming the
// failing field, the api must stay up, and nothing may be written anywhere (no job, no row,
// no object, no spool file). The quoting group also runs against ClickHouse, with a worker,
// to show that text a field legitimately accepts reaches the hot store verbatim.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeBucket } from '../helpers/buckets.js';
import { send, slowClient, type RawAnswer, type RawRequest } from '../helpers/raw-http.js';
import { StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';

const BODY_LIMIT_BYTES = 64 * 1024;
const ARTIFACT_MAX_BYTES = 1024;
const INGEST_MAX_IOCS = 5;
const BODY_TIMEOUT_MS = 3_000;

const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-01-02T00:00:00Z';
const IOC = {
  type: 'domain',
  value: 'evil.example.com',
  threat_type: 'c2',
  confidence: 0.9,
  source: 'feed-a',
  first_seen: T0,
  last_seen: T1,
  tags: ['apt'],
};
const IOC_WITHOUT_SOURCE: Omit<typeof IOC, 'source'> & { source?: string } = { ...IOC };
delete IOC_WITHOUT_SOURCE.source;

/** SQL and ClickHouse quoting attacks: plain ASCII text, refused by every strict field. */
const QUOTING = [
  "'); DROP TABLE iocs; --",
  "' OR '1'='1",
  "\\'",
  "\\\\'; SELECT 1; --",
  "x\\' OR 1=1 --",
  '{value:String}',
  '{{x}}',
  '$1',
  '$$; DROP TABLE watermarks; $$',
  '"; DROP TABLE x; --',
  '`; cat /etc/passwd`',
  '%27%20OR%201%3D1',
];
/** Paths where a name or id is expected. */
const TRAVERSAL = [
  '../../etc/passwd',
  '..%2f..%2fetc%2fpasswd',
  '%2e%2e%2f',
  '..',
  '..\\..\\windows\\win.ini',
  '/etc/passwd',
  'C:\\Windows\\System32\\cmd.exe',
  '\\\\server\\share',
];
/** Text no store can keep as sent: NUL (PostgreSQL text) and lone surrogates (UTF-8). */
const UNSTORABLE = ['\u0000', 'a\u0000b', '\ud800', 'x\udfffy'];
/** Valid Unicode that no identifier, slug or hex field may hold. */
const ODD_UNICODE = [
  'evil\u202eexample.com',
  'ev\u200bil',
  'x💣',
  'b\ufeffom',
  'ｅｖｉｌ．ｃｏｍ',
  'a\u0301',
];
const TOO_LONG = 'a'.repeat(5_000);
const STRICT_ATTACKS = [...QUOTING, ...TRAVERSAL, ...UNSTORABLE, ...ODD_UNICODE, TOO_LONG, ''];

/** How a string field validates, and so which attacks it must refuse. */
type FieldClass = 'strict' | 'text' | 'ascii';
const refusedBy = (cls: FieldClass): readonly string[] =>
  cls === 'strict'
    ? STRICT_ATTACKS
    : cls === 'text'
      ? [...UNSTORABLE, TOO_LONG]
      : [...UNSTORABLE, ...ODD_UNICODE, TOO_LONG];

/** Raw JSON number tokens no numeric field accepts (JSON.parse reads 1e309 as Infinity). */
const HUGE_NUMBERS = [
  '1e309',
  '-1e309',
  '1e400',
  '9223372036854775808',
  '18446744073709551616',
  '-9223372036854775809',
];
const NUMBER_WRONG_TYPES: unknown[] = ['1', 'NaN', 'Infinity', '-0', '1e309', null, true, [], {}];
const STRING_WRONG_TYPES: unknown[] = [null, 42, true, {}, []];
const BOOLEAN_WRONG_TYPES: unknown[] = ['true', 1, 0, null, 'yes', []];

/** A route taking a JSON body, with a valid body to mutate field by field. */
interface JsonRoute {
  name: string;
  method: 'POST' | 'PUT';
  path: string;
  key: string;
  template: Record<string, unknown>;
  /** Prefix of the error paths of the template's fields (bulk: `payloads.0`). */
  prefix?: string;
  /** String fields that are not strict, by leaf path. */
  classes?: Record<string, FieldClass>;
  /** Leaf paths where null is a valid value. */
  nullable?: string[];
  /** The template is a complete valid request (an empty body may be too). */
  emptyBodyIsValid?: boolean;
}

const MAINTENANCE_TEMPLATES: Record<string, Record<string, unknown>> = {
  'cache.promote': { min_confidence: 0.8, max_age_hours: 24, limit: 10 },
  'archive.lock': { day: '2026-01-01', max_days: 3 },
  'retention.cleanup': { dry_run: true, hot_days: 90, sample_days: 30, targets: ['hot'] },
  'uploads.abort-stale': { older_than_hours: 24, older_than_seconds: 60, dry_run: true },
};

const JSON_ROUTES: JsonRoute[] = [
  {
    name: 'enqueue iocs.insert',
    method: 'POST',
    path: '/v1/jobs/iocs.insert',
    key: TEST_KEYS.ingest,
    template: { iocs: [IOC] },
  },
  {
    name: 'enqueue watermark.commit',
    method: 'POST',
    path: '/v1/jobs/watermark.commit',
    key: TEST_KEYS.ingest,
    template: {
      source_id: 'feed-a',
      timestamp: T1,
      status: 'failed',
      records_collected: 3,
      error_message: 'timeout',
    },
    classes: { error_message: 'text' },
    nullable: ['error_message'],
  },
  {
    name: 'enqueue artifact.upload',
    method: 'POST',
    path: '/v1/jobs/artifact.upload',
    key: TEST_KEYS.artifacts,
    template: {
      target: { kind: 'sample', request_id: 'req-1', filename: 'auth.log' },
      source: { type: 'url', url: 'https://files.example.com/auth.log', size: 11 },
      content_type: 'text/plain',
      metadata: { origin: 'otx' },
    },
    classes: {
      'target.filename': 'text',
      content_type: 'ascii',
      'metadata.origin': 'ascii',
    },
  },
  ...Object.entries(MAINTENANCE_TEMPLATES).flatMap(([job, template]): JsonRoute[] => [
    {
      name: `enqueue ${job}`,
      method: 'POST',
      path: `/v1/jobs/${job}`,
      key: TEST_KEYS.admin,
      template,
      emptyBodyIsValid: true,
    },
    {
      name: `maintenance ${job}`,
      method: 'POST',
      path: `/v1/maintenance/${job}`,
      key: TEST_KEYS.admin,
      template,
      emptyBodyIsValid: true,
    },
  ]),
  {
    name: 'bulk iocs.insert',
    method: 'POST',
    path: '/v1/jobs/iocs.insert/bulk',
    key: TEST_KEYS.ingest,
    template: { iocs: [IOC] },
    prefix: 'payloads.0',
  },
  {
    name: 'collector ingest',
    method: 'POST',
    path: '/v1/ingest/iocs',
    key: TEST_KEYS.ingest,
    template: {
      source_id: 'feed-a',
      iocs: [IOC_WITHOUT_SOURCE],
      watermark: { timestamp: T1, records_collected: 1 },
    },
  },
  {
    name: 'watermark PUT',
    method: 'PUT',
    path: '/api/v1/watermarks/feed-a',
    key: TEST_KEYS.ingest,
    template: { timestamp: T1, status: 'failed', records_collected: 0, error_message: 'boom' },
    classes: { error_message: 'text' },
    nullable: ['error_message'],
  },
  {
    name: 'presign',
    method: 'POST',
    path: '/v1/artifacts/sample/presign',
    key: TEST_KEYS.read,
    template: { key: 'samples/req-1/auth.log', expires_in: 60 },
  },
];

/** Leaves of a JSON value: [path, value] for every string, number and boolean. */
function leaves(value: unknown, path: string[] = []): [string[], unknown][] {
  if (Array.isArray(value)) return value.flatMap((v, i) => leaves(v, [...path, String(i)]));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => leaves(v, [...path, k]));
  }
  return [[path, value]];
}

/** A copy of `value` with the leaf at `path` replaced. */
function replaced(value: unknown, path: readonly string[], leaf: unknown): unknown {
  if (path.length === 0) return leaf;
  const [head, ...rest] = path as [string, ...string[]];
  if (Array.isArray(value)) {
    return (value as unknown[]).map((v, i) => (String(i) === head ? replaced(v, rest, leaf) : v));
  }
  const obj = value as Record<string, unknown>;
  return { ...obj, [head]: replaced(obj[head], rest, leaf) };
}

/** Paths of the objects in a JSON value whose keys a schema fixes (records excluded). */
function objectPaths(value: unknown, records: readonly string[], path: string[] = []): string[][] {
  if (Array.isArray(value))
    return value.flatMap((v, i) => objectPaths(v, records, [...path, String(i)]));
  if (value === null || typeof value !== 'object' || records.includes(path.join('.'))) return [];
  return [
    path,
    ...Object.entries(value).flatMap(([k, v]) => objectPaths(v, records, [...path, k])),
  ];
}

/** A copy of `value` with `key: true` added to the object at `path`. */
function withKey(value: unknown, path: readonly string[], key: string): unknown {
  if (path.length === 0) return { ...(value as Record<string, unknown>), [key]: true };
  const [head, ...rest] = path as [string, ...string[]];
  if (Array.isArray(value)) {
    return (value as unknown[]).map((v, i) => (String(i) === head ? withKey(v, rest, key) : v));
  }
  const obj = value as Record<string, unknown>;
  return { ...obj, [head]: withKey(obj[head], rest, key) };
}

const RAW = 'RAW-LEAF-7f3a';
/** The template as JSON text with one leaf replaced by raw JSON text (a number token). */
function withRawLeaf(template: unknown, path: readonly string[], raw: string): string {
  return JSON.stringify(replaced(template, path, RAW)).replace(`"${RAW}"`, raw);
}
/** The template as bytes with one string leaf replaced by raw bytes (invalid UTF-8). */
function withByteLeaf(template: unknown, path: readonly string[], bytes: Buffer): Buffer {
  const [before, after] = JSON.stringify(replaced(template, path, RAW)).split(RAW) as [
    string,
    string,
  ];
  return Buffer.concat([Buffer.from(before), bytes, Buffer.from(after)]);
}

const INVALID_UTF8 = [
  Buffer.from([0xff, 0xfe]),
  Buffer.from([0xc0, 0xaf]), // overlong "/"
  Buffer.from([0xe0, 0x80, 0xaf]), // overlong "/", three bytes
  Buffer.from([0xed, 0xa0, 0x80]), // a surrogate, encoded
  Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80]),
  Buffer.from([0x65, 0x76, 0xc3]), // truncated sequence
];

/** One input and what its answer must say. */
interface Case {
  label: string;
  req: RawRequest;
  /** Exact status expected; otherwise any 4xx. */
  status?: number;
  /** A field the problem must name (an error path equal to it or below it). */
  field?: string;
}

interface Problem {
  code?: string;
  errors?: { path: string; message: string }[];
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const jsonHeaders = (key: string) => ({ ...bearer(key), 'content-type': 'application/json' });
/** Percent-encodes every UTF-8 byte (a lone surrogate goes as U+FFFD, as no URL can hold one). */
const enc = (s: string) =>
  [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

/** What went wrong with one answer, or undefined when it is as expected. */
function check(c: Case, res: RawAnswer): string | undefined {
  const where = `${c.label}: ${res.status} ${res.body.toString('utf8').slice(0, 300)}`;
  if (res.status >= 500) return `5xx — ${where}`;
  if (res.status < 400) return `accepted — ${where}`;
  if (c.status !== undefined && res.status !== c.status) return `expected ${c.status} — ${where}`;
  if (!String(res.headers['content-type']).startsWith('application/problem+json'))
    return `not problem+json (${String(res.headers['content-type'])}) — ${where}`;
  const problem = res.json as Problem | undefined;
  if (typeof problem?.code !== 'string') return `no problem code — ${where}`;
  if (c.field !== undefined) {
    const paths = (problem.errors ?? []).map((e) => e.path);
    const field = c.field;
    if (!paths.some((p) => p === field || p.startsWith(`${field}.`)))
      return `does not name ${field} (names ${JSON.stringify(paths)}) — ${where}`;
  }
  return undefined;
}

let inputs = 0;
let serverErrors = 0;
afterAll(() => {
  console.log(`bad-input corpus: ${inputs} inputs, ${serverErrors} 5xx`);
});

describe('bad input (HOT_STORE=postgres)', () => {
  let world: StowageWorld;
  let base: string;
  let spoolDir: string;
  let buckets: Record<string, string>;

  beforeAll(async () => {
    spoolDir = await mkdtemp(join(tmpdir(), 'stowage-bad-input-'));
    const id = randomBytes(4).toString('hex');
    buckets = {
      ARTIFACT_BUCKET_SAMPLES: `t-${id}-samples`,
      ARTIFACT_BUCKET_TA_BUNDLES: `t-${id}-tas`,
      ARTIFACT_BUCKET_DEBUG_BUNDLES: `t-${id}-debug`,
    };
    world = new StowageWorld({
      HOT_STORE: 'postgres',
      SPOOL_DIR: spoolDir,
      API_BODY_LIMIT: `${BODY_LIMIT_BYTES / 1024}kb`,
      API_BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS),
      ARTIFACT_MAX_BYTES: String(ARTIFACT_MAX_BYTES),
      INGEST_MAX_IOCS: String(INGEST_MAX_IOCS),
      ...buckets,
    });
    await world.initStores();
    base = await world.startApi();
  });
  afterAll(async () => {
    await world?.close();
    for (const bucket of Object.values(buckets ?? {})) {
      await removeBucket(world.deps.s3, bucket).catch(() => undefined);
    }
    await rm(spoolDir, { recursive: true, force: true });
  });

  /** Sends every case (a few at a time) and returns what went wrong. */
  async function run(cases: Case[]): Promise<string[]> {
    const failures: string[] = [];
    for (let i = 0; i < cases.length; i += 8) {
      await Promise.all(
        cases.slice(i, i + 8).map(async (c) => {
          inputs += 1;
          let res: RawAnswer;
          try {
            res = await send(base, c.req);
          } catch (err) {
            failures.push(`${c.label}: ${(err as Error).message}`);
            return;
          }
          if (res.status >= 500) serverErrors += 1;
          const problem = check(c, res);
          if (problem) failures.push(problem);
        }),
      );
    }
    return failures;
  }

  /** The api answers /health, and nothing was written anywhere. */
  async function upAndUntouched(): Promise<void> {
    const health = await send(base, { method: 'GET', path: '/health' });
    expect(health.status).toBe(200);
    for (const queue of world.queues.all()) {
      const counts = await queue.getJobCounts();
      expect(
        Object.values(counts).reduce((a, b) => a + b, 0),
        `jobs in ${queue.name}: ${JSON.stringify(counts)}`,
      ).toBe(0);
    }
    const tables = await world.deps.pg.query<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
      [world.config.DATABASE_SCHEMA],
    );
    expect(tables.rows.length).toBeGreaterThan(0);
    // schema_version is written by `stowage init`, not by requests.
    for (const { table_name } of tables.rows.filter((t) => t.table_name !== 'schema_version')) {
      const { rows } = await world.deps.pg.query<{ n: string }>(
        `SELECT count(*) AS n FROM ${world.config.DATABASE_SCHEMA}.${table_name}`,
      );
      expect(Number(rows[0]!.n), `rows in ${table_name}`).toBe(0);
    }
    for (const bucket of Object.values(buckets)) {
      const page = await world.deps.s3.send(new ListObjectsV2Command({ Bucket: bucket }));
      expect(page.KeyCount ?? 0, `objects in ${bucket}`).toBe(0);
    }
    expect(await readdir(spoolDir)).toEqual([]);
    expect(({} as Record<string, unknown>).polluted, 'Object.prototype polluted').toBeUndefined();
  }

  /** Runs a group: no failure, then the api is up and nothing was written. */
  async function group(cases: Case[]): Promise<void> {
    expect(cases.length).toBeGreaterThan(0);
    const failures = await run(cases);
    expect(failures, failures.join('\n')).toEqual([]);
    await upAndUntouched();
  }

  const jsonCase = (
    route: JsonRoute,
    label: string,
    body: string | Buffer,
    extra: Partial<Case> = {},
    headers: Record<string, string> = {},
  ): Case => ({
    label: `${route.name} ${label}`,
    req: {
      method: route.method,
      path: route.path,
      headers: { ...jsonHeaders(route.key), ...headers },
      body,
    },
    ...extra,
  });

  it('malformed, truncated and wrong-shaped JSON is a 400 on every JSON route', async () => {
    const malformed = [
      '{',
      '{"a":',
      '{"a":1,}',
      "{'a':1}",
      '{"a":1}{"b":2}',
      '[',
      'nul',
      'tru',
      'NaN',
      'Infinity',
      '-',
      '"\\ud800',
      '{"a":"\\x41"}',
      '/* comment */ {}',
      '{"a":01}',
      '{"a":.5}',
      '\u0000',
      // Strict mode: a top-level scalar is not a request body.
      'null',
      'true',
      '42',
      '"text"',
    ];
    const shapes = [
      '[]',
      '[{}]',
      '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}',
    ];
    const cases: Case[] = [];
    for (const route of JSON_ROUTES) {
      for (const body of malformed)
        cases.push(jsonCase(route, `malformed ${JSON.stringify(body)}`, body, { status: 400 }));
      for (const body of shapes) {
        // Maintenance payloads are all optional: an object of unknown keys is a valid run.
        if (route.emptyBodyIsValid && body.startsWith('{')) continue;
        cases.push(jsonCase(route, `shape ${body}`, body, { status: 400 }));
      }
      if (!route.emptyBodyIsValid) cases.push(jsonCase(route, 'empty body', '', { status: 400 }));
      const full = JSON.stringify(route.prefix ? { payloads: [route.template] } : route.template);
      for (const cut of [1, 2, Math.floor(full.length / 2), full.length - 1]) {
        cases.push(jsonCase(route, `truncated at ${cut}`, full.slice(0, cut), { status: 400 }));
      }
    }
    await group(cases);
  });

  /** Every leaf of every JSON route's template, as error path and body builder. */
  function mutations(
    make: (route: JsonRoute, path: string[], value: unknown, field: string) => Case[],
  ): Case[] {
    return JSON_ROUTES.flatMap((route) =>
      leaves(route.template).flatMap(([path, value]) => {
        const field = [route.prefix, ...path].filter(Boolean).join('.');
        return make(route, path, value, field);
      }),
    );
  }
  const wrap = (route: JsonRoute, body: unknown) => (route.prefix ? { payloads: [body] } : body);
  const wrapText = (route: JsonRoute, text: string) =>
    route.prefix ? `{"payloads":[${text}]}` : text;

  it('an unknown key in any object of every JSON body is a 400 naming it, and nothing runs', async () => {
    // `dryRun` for `dry_run`: a typo must never fall back to a default, destructive or not.
    const cases = JSON_ROUTES.flatMap((route) =>
      objectPaths(route.template, ['metadata']).flatMap((path) =>
        ['dryRun', 'unexpected'].map((key) => {
          const field = [route.prefix, ...path, key].filter(Boolean).join('.');
          return jsonCase(
            route,
            `${field} added`,
            JSON.stringify(wrap(route, withKey(route.template, path, key))),
            { status: 400, field },
          );
        }),
      ),
    );
    expect(cases.length).toBeGreaterThan(2 * JSON_ROUTES.length);
    await group(cases);
  });

  it('wrong types and huge numbers in every field are 400s naming the field', async () => {
    const cases = mutations((route, path, value, field) => {
      const wrong =
        typeof value === 'number'
          ? NUMBER_WRONG_TYPES
          : typeof value === 'boolean'
            ? BOOLEAN_WRONG_TYPES
            : STRING_WRONG_TYPES.filter(
                (w) => !(w === null && route.nullable?.includes(path.join('.'))),
              );
      const out: Case[] = wrong.map((w) =>
        jsonCase(
          route,
          `${field}=${JSON.stringify(w)}`,
          JSON.stringify(wrap(route, replaced(route.template, path, w))),
          {
            status: 400,
            field,
          },
        ),
      );
      if (typeof value === 'number') {
        for (const raw of HUGE_NUMBERS) {
          out.push(
            jsonCase(
              route,
              `${field}=${raw}`,
              wrapText(route, withRawLeaf(route.template, path, raw)),
              {
                status: 400,
                field,
              },
            ),
          );
        }
      }
      return out;
    });
    await group(cases);
  });

  it('quoting attacks, traversal and unicode edge cases in every string field are 400s naming it', async () => {
    const cases = mutations((route, path, value, field) => {
      if (typeof value !== 'string') return [];
      const cls = route.classes?.[path.join('.')] ?? 'strict';
      return refusedBy(cls).map((attack) =>
        jsonCase(
          route,
          `${field}=${JSON.stringify(attack.slice(0, 40))}`,
          JSON.stringify(wrap(route, replaced(route.template, path, attack))),
          { status: 400, field },
        ),
      );
    });
    await group(cases);
  });

  it('invalid UTF-8 in a JSON body is a 400, whatever field holds it', async () => {
    const cases = mutations((route, path, value, field) => {
      if (typeof value !== 'string') return [];
      return INVALID_UTF8.map((bytes) =>
        jsonCase(
          route,
          `${field}=0x${bytes.toString('hex')}`,
          route.prefix
            ? Buffer.concat([
                Buffer.from('{"payloads":['),
                withByteLeaf(route.template, path, bytes),
                Buffer.from(']}'),
              ])
            : withByteLeaf(route.template, path, bytes),
          { status: 400 },
        ),
      );
    });
    await group(cases);
  });

  it('deep nesting is a 400 (or a 413 past the body limit), never a crash', async () => {
    const cases: Case[] = [];
    for (const route of JSON_ROUTES) {
      const [first] = Object.keys(route.template);
      // Presign has its own 16 KiB body limit: the deeper bodies are 413s there.
      const status = route.name === 'presign' ? {} : { status: 400 };
      const field =
        route.name === 'presign' ? {} : { field: [route.prefix, first].filter(Boolean).join('.') };
      for (const depth of [1_000, 10_000, 30_000]) {
        const arrays = '['.repeat(depth) + ']'.repeat(depth);
        cases.push(jsonCase(route, `${depth} nested arrays`, arrays, status));
        cases.push(
          jsonCase(
            route,
            `${depth} nested arrays in ${first}`,
            wrapText(route, `{"${first}":${arrays}}`),
            { ...status, ...field },
          ),
        );
      }
      const objects = '{"a":'.repeat(5_000) + '1' + '}'.repeat(5_000);
      cases.push(
        jsonCase(route, '5000 nested objects', wrapText(route, `{"${first}":${objects}}`), status),
      );
      cases.push(
        jsonCase(route, '100000 nested arrays', '['.repeat(100_000) + ']'.repeat(100_000)),
      );
    }
    await group(cases);
  });

  it('oversized, gzip-bombed, mislabelled and wrongly encoded bodies are 413s and 415s', async () => {
    const cases: Case[] = [];
    for (const route of JSON_ROUTES) {
      const limit = route.name === 'presign' ? 16 * 1024 : BODY_LIMIT_BYTES;
      const big = JSON.stringify({ ...route.template, pad: 'x'.repeat(limit) });
      cases.push(jsonCase(route, 'over the body limit', big, { status: 413 }));
      const bomb = gzipSync(Buffer.from(`{"pad":"${' '.repeat(20 * 1024 * 1024)}"}`));
      cases.push(
        jsonCase(route, 'gzip bomb', bomb, { status: 413 }, { 'content-encoding': 'gzip' }),
      );
      cases.push(
        jsonCase(
          route,
          'gzip label, no gzip',
          '{}',
          { status: 400 },
          { 'content-encoding': 'gzip' },
        ),
      );
      cases.push(
        jsonCase(
          route,
          'unknown encoding',
          '{}',
          { status: 415 },
          { 'content-encoding': 'compress' },
        ),
      );
      for (const type of [
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/xml',
        'application/json; charset=utf-7',
        'application/json; charset=latin1',
      ]) {
        cases.push(
          jsonCase(
            route,
            `as ${type}`,
            JSON.stringify(wrap(route, route.template)),
            { status: 415 },
            {
              'content-type': type,
            },
          ),
        );
      }
      const noType = bearer(route.key);
      cases.push({
        label: `${route.name} without a content type`,
        req: {
          method: route.method,
          path: route.path,
          headers: noType,
          body: JSON.stringify(route.template),
        },
        status: 415,
      });
    }
    await group(cases);
  });

  it('too many records and a bad Idempotency-Key are 400s naming them', async () => {
    const ingest = JSON_ROUTES.find((r) => r.name === 'collector ingest')!;
    const bulk = JSON_ROUTES.find((r) => r.name === 'bulk iocs.insert')!;
    const tooMany = Array.from({ length: INGEST_MAX_IOCS + 1 }, (_, i) => ({
      ...IOC_WITHOUT_SOURCE,
      value: `host${i}.example.com`,
    }));
    const cases: Case[] = [
      jsonCase(
        ingest,
        `${INGEST_MAX_IOCS + 1} IOCs`,
        JSON.stringify({ source_id: 'feed-a', iocs: tooMany }),
        {
          status: 400,
          field: 'iocs',
        },
      ),
      jsonCase(ingest, 'no IOCs', JSON.stringify({ source_id: 'feed-a', iocs: [] }), {
        status: 400,
        field: 'iocs',
      }),
      jsonCase(
        bulk,
        '1001 payloads',
        JSON.stringify({ payloads: Array.from({ length: 1001 }, () => ({})) }),
        {
          status: 400,
          field: 'payloads',
        },
      ),
      jsonCase(bulk, 'no payloads', JSON.stringify({ payloads: [] }), {
        status: 400,
        field: 'payloads',
      }),
      jsonCase(
        JSON_ROUTES.find((r) => r.name === 'enqueue iocs.insert')!,
        '1001 IOCs in one insert',
        JSON.stringify({ iocs: Array.from({ length: 1001 }, () => ({})) }),
        { status: 400, field: 'iocs' },
      ),
    ];
    // Maintenance runs take no Idempotency-Key; presign and watermark PUT enqueue nothing.
    for (const route of JSON_ROUTES.filter(
      (r) => !r.path.startsWith('/v1/maintenance/') && r.method === 'POST' && r.name !== 'presign',
    )) {
      for (const key of ['has space', 'x'.repeat(256), 'tab\there', 'é']) {
        cases.push(
          jsonCase(
            route,
            `Idempotency-Key ${JSON.stringify(key.slice(0, 20))}`,
            JSON.stringify(wrap(route, route.template)),
            {
              status: 400,
              field: 'Idempotency-Key',
            },
            { 'idempotency-key': Buffer.from(key, 'utf8').toString('latin1') },
          ),
        );
      }
    }
    // The ingest route also needs its records valid before the key matters.
    await group(cases);
  });

  it('traversal, quoting and unicode in path parameters are 4xx problems naming the parameter', async () => {
    const attacks = [...STRICT_ATTACKS.filter((a) => a !== '' && a !== TOO_LONG), 'x'.repeat(300)];
    const cases: Case[] = [];
    const get = (
      label: string,
      path: string,
      key: string,
      field?: string,
      status?: number,
    ): Case => ({
      label,
      req: { method: 'GET', path, headers: bearer(key) },
      ...(field === undefined ? {} : { field }),
      ...(status === undefined ? {} : { status }),
    });
    const withBody = (
      label: string,
      method: string,
      path: string,
      key: string,
      body: unknown,
      field?: string,
      status?: number,
    ): Case => ({
      label,
      req: { method, path, headers: jsonHeaders(key), body: JSON.stringify(body) },
      ...(field === undefined ? {} : { field }),
      ...(status === undefined ? {} : { status }),
    });
    for (const a of attacks) {
      const p = enc(a);
      const l = JSON.stringify(a.slice(0, 30));
      cases.push(get(`job id ${l}`, `/v1/jobs/${p}`, TEST_KEYS.read, 'id', 404));
      cases.push(
        withBody(`job type ${l}`, 'POST', `/v1/jobs/${p}`, TEST_KEYS.admin, {}, 'type', 404),
      );
      cases.push(
        withBody(
          `bulk type ${l}`,
          'POST',
          `/v1/jobs/${p}/bulk`,
          TEST_KEYS.admin,
          { payloads: [{}] },
          'type',
          404,
        ),
      );
      cases.push(
        withBody(
          `maintenance job ${l}`,
          'POST',
          `/v1/maintenance/${p}`,
          TEST_KEYS.admin,
          {},
          'job',
          404,
        ),
      );
      cases.push(
        get(`ioc type ${l}`, `/v1/iocs/${p}/evil.example.com`, TEST_KEYS.read, 'type', 400),
      );
      cases.push(get(`ioc value ${l}`, `/v1/iocs/domain/${p}`, TEST_KEYS.read, 'value', 400));
      cases.push(get(`ioc ipv6 value ${l}`, `/v1/iocs/ipv6/${p}`, TEST_KEYS.read, 'value', 400));
      cases.push({
        label: `cache invalidation ${l}`,
        req: {
          method: 'DELETE',
          path: `/v1/cache/iocs/domain/${p}`,
          headers: bearer(TEST_KEYS.ingest),
        },
        field: 'value',
        status: 400,
      });
      cases.push(
        get(`watermark source ${l}`, `/api/v1/watermarks/${p}`, TEST_KEYS.read, 'source_id', 400),
      );
      cases.push(
        withBody(
          `watermark PUT source ${l}`,
          'PUT',
          `/api/v1/watermarks/${p}`,
          TEST_KEYS.ingest,
          { timestamp: T1, status: 'success' },
          'source_id',
          400,
        ),
      );
      cases.push(
        get(`artifact kind ${l}`, `/v1/artifacts/${p}/req-1`, TEST_KEYS.read, 'kind', 404),
      );
      cases.push(get(`artifact id ${l}`, `/v1/artifacts/sample/${p}`, TEST_KEYS.read, 'id', 400));
      cases.push(
        withBody(
          `presign kind ${l}`,
          'POST',
          `/v1/artifacts/${p}/presign`,
          TEST_KEYS.read,
          { key: 'samples/r/f' },
          'kind',
          404,
        ),
      );
      cases.push(
        withBody(
          `presign key ${l}`,
          'POST',
          '/v1/artifacts/sample/presign',
          TEST_KEYS.read,
          { key: a },
          'key',
        ),
      );
      cases.push(
        withBody(
          `presign key below samples/ ${l}`,
          'POST',
          '/v1/artifacts/sample/presign',
          TEST_KEYS.read,
          { key: `samples/req-1/${a}` },
          'key',
        ),
      );
      cases.push({
        label: `upload kind ${l}`,
        req: {
          method: 'POST',
          path: `/v1/artifacts/${p}?request_id=r&filename=f`,
          headers: { ...bearer(TEST_KEYS.artifacts), 'content-type': 'text/plain' },
          body: 'data',
        },
        field: 'kind',
        status: 404,
      });
    }
    // Percent-escapes that decode to no UTF-8 text, or to nothing at all.
    for (const bad of ['%ff%fe', '%c0%af', '%ed%a0%80', '%', '%zz']) {
      cases.push(get(`job id ${bad}`, `/v1/jobs/${bad}`, TEST_KEYS.read, undefined, 400));
      cases.push(
        get(`watermark ${bad}`, `/api/v1/watermarks/${bad}`, TEST_KEYS.read, undefined, 400),
      );
      cases.push(get(`ioc value ${bad}`, `/v1/iocs/domain/${bad}`, TEST_KEYS.read, undefined, 400));
    }
    // Unencoded traversal reaches no route at all.
    for (const raw of [
      '/v1/jobs/../../etc/passwd',
      '/v1/artifacts/sample/../../../etc/passwd',
      '/api/v1/watermarks/..%2f..%2f',
      '//etc/passwd',
      '/v1/iocs/domain/a/../../b/c',
    ]) {
      cases.push(get(`raw path ${raw}`, raw, TEST_KEYS.admin));
    }
    await group(cases);
  });

  /** A raw artifact upload with the ids in the query string. */
  const upload = (
    label: string,
    kind: string,
    query: string,
    body: string | Buffer,
    extra: Partial<Case> = {},
    headers: Record<string, string> = {},
  ): Case => ({
    label,
    req: {
      method: 'POST',
      path: `/v1/artifacts/${kind}?${query}`,
      headers: { ...bearer(TEST_KEYS.artifacts), 'content-type': 'text/plain', ...headers },
      body,
    },
    ...extra,
  });
  /** A multipart upload: text fields, then one file part with the given disposition parameters. */
  const multipart = (
    label: string,
    fields: [string, string][],
    fileParams: string,
    file: string | Buffer,
    extra: Partial<Case> = {},
  ): Case => {
    const b = 'b0undary';
    const head = fields
      .map(
        ([name, value]) =>
          `--${b}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
      )
      .join('');
    return {
      label,
      req: {
        method: 'POST',
        path: '/v1/artifacts/sample',
        headers: {
          ...bearer(TEST_KEYS.artifacts),
          'content-type': `multipart/form-data; boundary=${b}`,
        },
        body: Buffer.concat([
          Buffer.from(
            `${head}--${b}\r\nContent-Disposition: form-data; name="file"; ${fileParams}\r\nContent-Type: text/plain\r\n\r\n`,
          ),
          Buffer.from(file),
          Buffer.from(`\r\n--${b}--\r\n`),
        ]),
      },
      ...extra,
    };
  };

  it('artifact uploads with traversal, quoting and unicode in ids, filenames and metadata are 400s naming them', async () => {
    const cases: Case[] = [];
    // Over HTTP a lone surrogate arrives as U+FFFD and `%2e%2e%2f` as that literal name:
    // both are safe names, so only what must be refused is sent here.
    const filenameAttacks = [
      ...TRAVERSAL.filter((a) => a !== '%2e%2e%2f'),
      '\u0000',
      'a\u0000b',
      'a\u0001b',
      ' lead',
      'trail ',
      'é'.repeat(128),
      'x'.repeat(256),
      // Names that read as another name: bidi controls, zero-width and other format characters.
      'invoice\u202efdp.exe',
      'a\u202ab',
      'a\u2066b\u2069',
      'ev\u200bil.log',
      'a\u200db',
      'a\u2060b',
      '\ufeffbom.log',
      'soft\u00adhyphen',
    ];
    for (const a of STRICT_ATTACKS) {
      const l = JSON.stringify(a.slice(0, 30));
      cases.push(
        upload(`upload request_id ${l}`, 'sample', `request_id=${enc(a)}&filename=f.log`, 'data', {
          status: 400,
          field: 'request_id',
        }),
      );
      cases.push(
        upload(
          `upload validation_run_id ${l}`,
          'debug-bundle',
          `validation_run_id=${enc(a)}&filename=f.log`,
          'data',
          { status: 400, field: 'validation_run_id' },
        ),
      );
      cases.push(
        upload(
          `upload revision_id ${l}`,
          'ta-bundle',
          `request_id=r&revision_id=${enc(a)}&version=1`,
          'data',
          { status: 400, field: 'revision_id' },
        ),
      );
      cases.push(
        multipart(`multipart request_id ${l}`, [['request_id', a]], 'filename="f.log"', 'data', {
          status: 400,
          field: 'request_id',
        }),
      );
      cases.push(
        upload(
          `upload X-Content-SHA256 ${l}`,
          'sample',
          'request_id=r&filename=f.log',
          'data',
          { status: 400, field: 'X-Content-SHA256' },
          {
            'x-content-sha256':
              Buffer.from(a.replaceAll('\u0000', ''), 'utf8').toString('latin1') || '-',
          },
        ),
      );
    }
    for (const a of filenameAttacks) {
      const l = JSON.stringify(a.slice(0, 30));
      cases.push(
        upload(`upload filename ${l}`, 'sample', `request_id=r&filename=${enc(a)}`, 'data', {
          status: 400,
          field: 'filename',
        }),
      );
      cases.push(
        multipart(
          `multipart filename* ${l}`,
          [['request_id', 'r']],
          `filename*=utf-8''${enc(a)}`,
          'data',
          { status: 400, field: 'filename' },
        ),
      );
      cases.push(
        multipart(
          `multipart filename field ${l}`,
          [
            ['request_id', 'r'],
            ['filename', a],
          ],
          'filename="ok.log"',
          'data',
          { status: 400, field: 'filename' },
        ),
      );
    }
    for (const a of ['../../etc/passwd', '/etc/passwd', '..\\..\\x', 'C:\\x\\..\\y']) {
      cases.push(
        multipart(
          `multipart quoted filename ${JSON.stringify(a)}`,
          [['request_id', 'r']],
          `filename="${a}"`,
          'data',
          { status: 400, field: 'filename' },
        ),
      );
    }
    for (const version of [
      '0',
      '-0',
      '1e309',
      '9223372036854775808',
      'NaN',
      'Infinity',
      '1.5',
      '-1',
      '',
      'abc',
      // Number() would read these as 1000, 16, 5, 5 and 5: not the canonical spelling.
      '1e3',
      '0x10',
      ' 5 ',
      '05',
      '+5',
    ]) {
      cases.push(
        upload(
          `upload version ${JSON.stringify(version)}`,
          'ta-bundle',
          `request_id=r&revision_id=v&version=${enc(version)}`,
          'data',
          { status: 400, field: 'version' },
        ),
      );
    }
    cases.push(
      upload('upload request_id twice', 'sample', 'request_id=a&request_id=b&filename=f', 'data', {
        status: 400,
        field: 'request_id',
      }),
    );
    cases.push(
      upload('upload filename[]', 'sample', 'request_id=r&filename[]=f', 'data', {
        status: 400,
        field: 'filename',
      }),
    );
    for (const a of [...UNSTORABLE, ...ODD_UNICODE, 'x'.repeat(1025)]) {
      const l = JSON.stringify(a.slice(0, 30));
      cases.push(
        multipart(
          `multipart meta value ${l}`,
          [
            ['request_id', 'r'],
            ['meta.origin', a],
          ],
          'filename="f.log"',
          'data',
          { status: 400, field: 'meta.origin' },
        ),
      );
    }
    for (const name of ['../x', 'UPPER', '_x', "'; DROP", 'a'.repeat(65), '']) {
      cases.push(
        multipart(
          `multipart meta name ${JSON.stringify(name)}`,
          [
            ['request_id', 'r'],
            [`meta.${name}`, 'v'],
          ],
          'filename="f.log"',
          'data',
          { status: 400, field: `meta.${name}` },
        ),
      );
    }
    for (const type of ['x'.repeat(300), 'text/ü']) {
      cases.push(
        upload(
          `upload content type ${JSON.stringify(type.slice(0, 20))}`,
          'sample',
          'request_id=r&filename=f',
          'data',
          { status: 400, field: 'Content-Type' },
          {
            'content-type': Buffer.from(type, 'utf8').toString('latin1'),
          },
        ),
      );
    }
    await group(cases);
  });

  it('artifact bodies over ARTIFACT_MAX_BYTES, broken multipart bodies and bad Idempotency-Keys are refused', async () => {
    const over = Buffer.alloc(ARTIFACT_MAX_BYTES + 1, 0x61);
    const cases: Case[] = [
      upload('raw upload over the limit', 'sample', 'request_id=r&filename=f', over, {
        status: 413,
        field: 'Content-Length',
      }),
      multipart('multipart file over the limit', [['request_id', 'r']], 'filename="f.log"', over, {
        status: 413,
      }),
      multipart(
        'multipart with a field after the file',
        [['request_id', 'r']],
        'filename="f.log"',
        'data\r\n--b0undary\r\nContent-Disposition: form-data; name="late"\r\n\r\nx',
        { status: 400 },
      ),
      {
        label: 'multipart without a boundary',
        req: {
          method: 'POST',
          path: '/v1/artifacts/sample',
          headers: { ...bearer(TEST_KEYS.artifacts), 'content-type': 'multipart/form-data' },
          body: 'x',
        },
        status: 400,
      },
      {
        label: 'multipart truncated',
        req: {
          method: 'POST',
          path: '/v1/artifacts/sample',
          headers: {
            ...bearer(TEST_KEYS.artifacts),
            'content-type': 'multipart/form-data; boundary=xyz',
          },
          body: '--xyz\r\nContent-Disposition: form-data; name="request_id"\r\n\r\nr\r\n--xyz\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\ntrunc',
        },
        status: 400,
      },
      {
        label: 'multipart that is JSON',
        req: {
          method: 'POST',
          path: '/v1/artifacts/sample',
          headers: {
            ...bearer(TEST_KEYS.artifacts),
            'content-type': 'multipart/form-data; boundary=xyz',
          },
          body: '{"request_id":"r"}',
        },
        status: 400,
      },
      {
        label: 'multipart with 40 fields',
        req: {
          method: 'POST',
          path: '/v1/artifacts/sample',
          headers: {
            ...bearer(TEST_KEYS.artifacts),
            'content-type': 'multipart/form-data; boundary=xyz',
          },
          body:
            Array.from(
              { length: 40 },
              (_, i) => `--xyz\r\nContent-Disposition: form-data; name="f${i}"\r\n\r\nv\r\n`,
            ).join('') + '--xyz--\r\n',
        },
        status: 400,
      },
    ];
    for (const key of ['has space', 'x'.repeat(256), 'é']) {
      cases.push(
        upload(
          `upload Idempotency-Key ${JSON.stringify(key.slice(0, 10))}`,
          'sample',
          'request_id=r&filename=f',
          'data',
          { status: 400, field: 'Idempotency-Key' },
          {
            'idempotency-key': Buffer.from(key, 'utf8').toString('latin1'),
          },
        ),
      );
    }
    await group(cases);
  });

  it('a client that stalls or trickles its body is answered or cut off in bounded time, and the api stays up', async () => {
    const json = JSON.stringify({ source_id: 'feed-a', iocs: [IOC_WITHOUT_SOURCE] });
    const heads = [
      [
        'ingest JSON',
        `POST /v1/ingest/iocs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_KEYS.ingest}\r\nContent-Type: application/json\r\nContent-Length: ${json.length + 100}\r\n\r\n${json.slice(0, 10)}`,
      ],
      [
        'watermark JSON',
        `PUT /api/v1/watermarks/feed-a HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_KEYS.ingest}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"ti`,
      ],
      [
        'presign JSON',
        `POST /v1/artifacts/sample/presign HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_KEYS.read}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"k`,
      ],
      [
        'raw upload',
        `POST /v1/artifacts/sample?request_id=r&filename=slow.log HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_KEYS.artifacts}\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\nabc`,
      ],
      [
        'chunked upload',
        `POST /v1/artifacts/sample?request_id=r&filename=slow.log HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_KEYS.artifacts}\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n`,
      ],
      [
        'multipart upload',
        `POST /v1/artifacts/sample HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_KEYS.artifacts}\r\nContent-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 1000\r\n\r\n--xyz\r\nContent-Disposition: form-data; name="request_id"\r\n\r\nr\r\n--xyz\r\nContent-Disposition: form-data; name="file"; filename="slow.log"\r\n\r\nab`,
      ],
      [
        'headers only',
        `POST /v1/ingest/iocs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_KEYS.ingest}\r\n`,
      ],
    ] as const;
    const outcomes = await Promise.all(
      heads.flatMap(([label, head]) =>
        [
          { trickle: 0, everyMs: 1_000 },
          { trickle: 1, everyMs: 500 },
        ].map(async (mode) => {
          inputs += 1;
          const outcome = await slowClient(base, head, { ...mode, giveUpMs: 45_000 });
          return { label: `${label} ${mode.trickle ? 'trickling' : 'stalled'}`, ...outcome };
        }),
      ),
    );
    for (const o of outcomes) {
      expect(
        o.closedByServer,
        `${o.label}: the server neither answered nor closed in ${o.ms} ms`,
      ).toBe(true);
      expect(o.ms, o.label).toBeLessThan(40_000);
      if (o.status !== undefined) {
        expect(o.status, o.label).toBeGreaterThanOrEqual(400);
        expect(o.status, o.label).toBeLessThan(500);
      }
    }
    // The spool removes what a cut-off upload wrote once the socket is gone.
    await eventually(
      async () => {
        const left = await readdir(spoolDir);
        if (left.length > 0) throw new Error(`left in the spool: ${left.join(', ')}`);
        return true;
      },
      10_000,
      'spool empty',
    );
    await upAndUntouched();
  }, 90_000);
});

/** The quoting group against one hot store, with a worker: refused where strict, verbatim where text. */
describe.each(['postgres', 'clickhouse'] as const)('quoting attacks (HOT_STORE=%s)', (hotStore) => {
  let world: StowageWorld;
  let base: string;

  beforeAll(async () => {
    world = new StowageWorld({ HOT_STORE: hotStore });
    await world.initStores();
    base = await world.startApi();
  });
  afterAll(async () => {
    await world?.close();
  });

  it('strict fields refuse every quoting attack, and nothing reaches a queue', async () => {
    const failures: string[] = [];
    for (const attack of QUOTING) {
      const bodies: [string, string, string, string, unknown][] = [
        [
          'POST',
          '/v1/ingest/iocs',
          TEST_KEYS.ingest,
          'source_id',
          { source_id: attack, iocs: [IOC_WITHOUT_SOURCE] },
        ],
        [
          'POST',
          '/v1/ingest/iocs',
          TEST_KEYS.ingest,
          'iocs.0.value',
          { source_id: 'feed-a', iocs: [{ ...IOC_WITHOUT_SOURCE, value: attack }] },
        ],
        [
          'POST',
          '/v1/ingest/iocs',
          TEST_KEYS.ingest,
          'iocs.0.tags.0',
          { source_id: 'feed-a', iocs: [{ ...IOC_WITHOUT_SOURCE, tags: [attack] }] },
        ],
        [
          'POST',
          '/v1/ingest/iocs',
          TEST_KEYS.ingest,
          'iocs.0.threat_type',
          { source_id: 'feed-a', iocs: [{ ...IOC_WITHOUT_SOURCE, threat_type: attack }] },
        ],
        [
          'PUT',
          `/api/v1/watermarks/${enc(attack)}`,
          TEST_KEYS.ingest,
          'source_id',
          { timestamp: T1, status: 'success' },
        ],
        ['POST', '/v1/jobs/archive.lock', TEST_KEYS.admin, 'day', { day: attack }],
      ];
      for (const [method, path, key, field, body] of bodies) {
        inputs += 1;
        const res = await send(base, {
          method,
          path,
          headers: jsonHeaders(key),
          body: JSON.stringify(body),
        });
        if (res.status >= 500) serverErrors += 1;
        const problem = check(
          { label: `${path} ${field}=${attack}`, req: { method, path }, status: 400, field },
          res,
        );
        if (problem) failures.push(problem);
      }
      const lookup = await send(base, {
        method: 'GET',
        path: `/v1/iocs/domain/${enc(attack)}`,
        headers: bearer(TEST_KEYS.read),
      });
      const problem = check(
        {
          label: `lookup ${attack}`,
          req: { method: 'GET', path: '' },
          status: 400,
          field: 'value',
        },
        lookup,
      );
      if (problem) failures.push(problem);
    }
    expect(failures).toEqual([]);
    for (const queue of world.queues.all()) {
      expect(Object.values(await queue.getJobCounts()).reduce((a, b) => a + b, 0)).toBe(0);
    }
    expect((await send(base, { method: 'GET', path: '/health' })).status).toBe(200);
  });

  it('text fields keep every quoting attack verbatim through the hot store and the watermark store', async () => {
    await world.startWorker(['ingest']);
    const urls = QUOTING.map(
      (a, i) => `http://evil${i}.example.com/p?q=${a.replace(/[ #%]/g, '_')}`,
    );
    const res = await send(base, {
      method: 'POST',
      path: '/v1/ingest/iocs',
      headers: jsonHeaders(TEST_KEYS.ingest),
      body: JSON.stringify({
        source_id: 'feed-q',
        iocs: urls.map((value) => ({ ...IOC_WITHOUT_SOURCE, type: 'url', value })),
        watermark: { timestamp: T1 },
      }),
    });
    expect(res.status, res.body.toString()).toBe(202);
    const { id } = res.json as { id: string };
    await eventually(
      async () => {
        const status = await send(base, {
          method: 'GET',
          path: `/v1/jobs/${id}`,
          headers: bearer(TEST_KEYS.read),
        });
        const state = (status.json as { state: string }).state;
        if (state === 'failed') throw new Error(status.body.toString());
        return state === 'completed' ? true : undefined;
      },
      30_000,
      'ingest flow completed',
    );
    for (const url of urls) {
      const stored = await world.deps.hotStore.get('url', new URL(url).href);
      expect(stored?.value, url).toBe(new URL(url).href);
      const look = await send(base, {
        method: 'GET',
        path: `/v1/iocs/url/${enc(url)}`,
        headers: bearer(TEST_KEYS.read),
      });
      expect(look.status, url).toBe(200);
      expect((look.json as { ioc: { value: string } }).ioc.value).toBe(new URL(url).href);
    }
    // A look-up of an absent URL full of quotes is a plain 404.
    const absent = await send(base, {
      method: 'GET',
      path: `/v1/iocs/url/${enc("http://x.example.com/'); DROP TABLE iocs; --")}`,
      headers: bearer(TEST_KEYS.read),
    });
    expect(absent.status).toBe(404);

    for (const [i, attack] of QUOTING.entries()) {
      const put = await send(base, {
        method: 'PUT',
        path: `/api/v1/watermarks/src-${i}`,
        headers: jsonHeaders(TEST_KEYS.ingest),
        body: JSON.stringify({ timestamp: T1, status: 'failed', error_message: attack }),
      });
      expect(put.status, attack).toBe(201);
      const got = await send(base, {
        method: 'GET',
        path: `/api/v1/watermarks/src-${i}`,
        headers: bearer(TEST_KEYS.read),
      });
      expect((got.json as { error_message: string }).error_message).toBe(attack);
    }
    // The tables are all still there, and hold what was written.
    expect((await world.deps.hotStore.get('url', new URL(urls[0]!).href))?.sources).toEqual([
      'feed-q',
    ]);
    expect(
      (await world.deps.watermarks.get('feed-q'))?.last_successful_timestamp?.toISOString(),
    ).toBe('2026-01-02T00:00:00.000Z');
  });
});
