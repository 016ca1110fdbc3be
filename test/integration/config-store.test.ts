// The configuration store (seed 000's set_config/get_config, issue 15 item 3) through the
// api, on both hot stores: configuration lives in PostgreSQL whatever HOT_STORE is.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOperatorCommand } from '../../src/cli/operator.js';
import { StowageClient } from '../../src/sdk/index.js';
import { StowageApiError } from '../../src/sdk/stowage-api-error.js';
import { MAX_CONFIG_VALUE_BYTES } from '../../src/domain/config-entry.js';
import { TEST_KEYS, TestWorld } from '../helpers/world.js';

const NOTIFICATION_RULES = {
  critical: { slack: true, email: true },
  high: { slack: false, email: true },
  medium: { email: false },
};

interface Problem {
  status: number;
  code: string;
  detail: string;
  errors?: { path: string; message: string }[];
  current_version?: number;
}

describe.each(['postgres', 'clickhouse'] as const)('config store (HOT_STORE=%s)', (hotStore) => {
  let world: TestWorld;
  let base: string;

  beforeAll(async () => {
    world = new TestWorld({ HOT_STORE: hotStore });
    await world.initStores();
    base = await world.startApi();
  });
  afterAll(async () => {
    await world?.close();
  });

  const call = (
    method: string,
    path: string,
    options: { body?: unknown; raw?: string; key?: string | null } = {},
  ) => {
    const key = options.key === undefined ? TEST_KEYS.admin : options.key;
    const body =
      options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
    return fetch(`${base}${path}`, {
      method,
      headers: {
        ...(key === null ? {} : { authorization: `Bearer ${key}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body }),
    });
  };
  const problem = async (res: Response) => {
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    return (await res.json()) as Problem;
  };

  it('seed 000: set_config then get_config returns the value, as version 1 written by the admin key', async () => {
    const put = await call('PUT', '/v1/config/notification_rules', {
      body: { value: NOTIFICATION_RULES },
    });
    expect(put.status).toBe(201);
    const created = (await put.json()) as Record<string, unknown>;
    expect(created).toMatchObject({
      key: 'notification_rules',
      value: NOTIFICATION_RULES,
      version: 1,
      updated_by: 'admin-client',
    });
    expect(Date.parse(created.updated_at as string)).not.toBeNaN();

    const got = await call('GET', '/v1/config/notification_rules', { key: TEST_KEYS.read });
    expect(got.status).toBe(200);
    expect(await got.json()).toEqual(created);
  });

  it('an update names the version it replaces; every earlier version stays readable', async () => {
    await call('PUT', '/v1/config/versioned', { body: { value: 'one', version: 0 } });
    const second = await call('PUT', '/v1/config/versioned', {
      body: { value: 'two', version: 1 },
    });
    expect(second.status).toBe(200);
    expect(await second.json()).toMatchObject({ value: 'two', version: 2 });
    const third = await call('PUT', '/v1/config/versioned', {
      body: { value: [1, 2, { three: null }], version: 2 },
    });
    expect(await third.json()).toMatchObject({ value: [1, 2, { three: null }], version: 3 });

    const v1 = await call('GET', '/v1/config/versioned?version=1', { key: TEST_KEYS.read });
    expect(await v1.json()).toMatchObject({ value: 'one', version: 1 });
    const v2 = await call('GET', '/v1/config/versioned?version=2', { key: TEST_KEYS.read });
    expect(await v2.json()).toMatchObject({ value: 'two', version: 2 });
    const current = await call('GET', '/v1/config/versioned', { key: TEST_KEYS.read });
    expect(await current.json()).toMatchObject({ value: [1, 2, { three: null }], version: 3 });

    const missing = await call('GET', '/v1/config/versioned?version=4', { key: TEST_KEYS.read });
    expect(missing.status).toBe(404);
    expect((await problem(missing)).errors).toEqual([
      { path: 'version', message: 'no such version of this key' },
    ]);
    const unknown = await call('GET', '/v1/config/never-written', { key: TEST_KEYS.read });
    expect(unknown.status).toBe(404);
    expect((await problem(unknown)).errors?.[0]?.path).toBe('key');
  });

  it('a stale version is a 409 with the current version, and writes nothing', async () => {
    await call('PUT', '/v1/config/stale', { body: { value: { a: 1 } } });
    await call('PUT', '/v1/config/stale', { body: { value: { a: 2 }, version: 1 } });

    const stale = await call('PUT', '/v1/config/stale', { body: { value: { a: 3 }, version: 1 } });
    expect(stale.status).toBe(409);
    const body = await problem(stale);
    expect(body).toMatchObject({ status: 409, code: 'conflict', current_version: 2 });
    expect(body.errors).toEqual([{ path: 'version', message: 'stale: the current version is 2' }]);

    const recreate = await call('PUT', '/v1/config/stale', { body: { value: { a: 4 } } });
    expect(recreate.status).toBe(409);
    expect((await problem(recreate)).current_version).toBe(2);
    const ahead = await call('PUT', '/v1/config/stale', { body: { value: { a: 5 }, version: 7 } });
    expect((await problem(ahead)).current_version).toBe(2);
    const absent = await call('PUT', '/v1/config/absent', { body: { value: 1, version: 3 } });
    expect(absent.status).toBe(409);
    expect((await problem(absent)).current_version).toBe(0);

    const after = (await (await call('GET', '/v1/config/stale')).json()) as Problem & {
      value: unknown;
      version: number;
    };
    expect(after).toMatchObject({ value: { a: 2 }, version: 2 });
    expect((await call('GET', '/v1/config/stale?version=3')).status).toBe(404);
    expect((await call('GET', '/v1/config/absent')).status).toBe(404);
  });

  it('a write sent again (a retry after a lost answer) answers its version and adds none', async () => {
    const first = await call('PUT', '/v1/config/replayed', { body: { value: { x: 1 } } });
    expect(first.status).toBe(201);
    const again = await call('PUT', '/v1/config/replayed', { body: { value: { x: 1 } } });
    expect(again.status).toBe(201);
    expect(await again.json()).toEqual(await first.json());
    expect((await call('GET', '/v1/config/replayed?version=2')).status).toBe(404);
    // Another writer's identical value is not a replay of this one.
    const otherAdmin = await call('PUT', '/v1/config/replayed', {
      body: { value: { x: 2 }, version: 1 },
    });
    expect(otherAdmin.status).toBe(200);
    const sameValueLater = await call('PUT', '/v1/config/replayed', {
      body: { value: { x: 1 }, version: 0 },
    });
    expect(sameValueLater.status).toBe(409);
  });

  it('concurrent writers naming the same version: exactly one wins, the others get 409', async () => {
    await call('PUT', '/v1/config/contended', { body: { value: 0 } });
    const answers = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        call('PUT', '/v1/config/contended', { body: { value: i + 1, version: 1 } }),
      ),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(15);
    const { rows } = await world.deps.pg.query<{ n: string }>(
      `SELECT count(*) AS n FROM "${world.config.DATABASE_SCHEMA}".config_versions WHERE key = 'contended'`,
    );
    expect(Number(rows[0]?.n)).toBe(2);
  });

  it('bad keys, versions and bodies are 400s naming the field; a large value is a 413 naming value', async () => {
    for (const key of ['Upper', '.dot-first', '-dash', 'a'.repeat(129), 'sp%20ace', 'x%2Fy']) {
      const res = await call('PUT', `/v1/config/${key}`, { body: { value: 1 } });
      expect(res.status, key).toBe(400);
      expect(
        (await problem(res)).errors?.map((e) => e.path),
        key,
      ).toContain('key');
    }
    const badGet = await call('GET', '/v1/config/UPPER');
    expect((await problem(badGet)).errors?.map((e) => e.path)).toContain('key');
    for (const version of ['0', '-1', 'x', '1.5']) {
      const res = await call('GET', `/v1/config/notification_rules?version=${version}`);
      expect(res.status, version).toBe(400);
      expect((await problem(res)).errors?.map((e) => e.path)).toContain('version');
    }
    const cases: [unknown, string][] = [
      [{}, 'value'],
      [{ value: 1, version: -1 }, 'version'],
      [{ value: 1, version: 'one' }, 'version'],
      [{ value: 1, verison: 1 }, 'verison'],
      [{ value: 'nul \u0000 inside' }, 'value'],
      [{ value: { deep: ['ok', 'nul\u0000'] } }, 'value.deep.1'],
    ];
    for (const [body, path] of cases) {
      const res = await call('PUT', '/v1/config/bad-body', { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await problem(res)).errors?.map((e) => e.path)).toContain(path);
    }
    const notJson = await call('PUT', '/v1/config/bad-body', { raw: '{"value": ' });
    expect(notJson.status).toBe(400);

    const big = { blob: 'x'.repeat(MAX_CONFIG_VALUE_BYTES) };
    const tooLarge = await call('PUT', '/v1/config/bad-body', { body: { value: big } });
    expect(tooLarge.status).toBe(413);
    expect((await problem(tooLarge)).errors?.map((e) => e.path)).toEqual(['value']);
    const justFits = { blob: 'x'.repeat(MAX_CONFIG_VALUE_BYTES - '{"blob":""}'.length) };
    expect((await call('PUT', '/v1/config/bad-body', { body: { value: justFits } })).status).toBe(
      201,
    );
    expect((await call('GET', '/v1/config/bad-body?version=2')).status).toBe(404);
  });

  it('writing needs the admin scope; reading needs a key with read', async () => {
    for (const key of [TEST_KEYS.read, TEST_KEYS.ingest, TEST_KEYS.artifacts]) {
      const res = await call('PUT', '/v1/config/guarded', { body: { value: 1 }, key });
      expect(res.status).toBe(403);
    }
    expect(
      (await call('PUT', '/v1/config/guarded', { body: { value: 1 }, key: null })).status,
    ).toBe(401);
    expect((await call('GET', '/v1/config/notification_rules', { key: null })).status).toBe(401);
    expect((await call('GET', '/v1/config', { key: null })).status).toBe(401);
    expect((await call('GET', '/v1/config/guarded')).status).toBe(404);
  });

  it('GET /v1/config lists keys in byte order, a page at a time, by key cursor', async () => {
    const prefix = 'list.';
    const names = ['b', 'a', 'c-1', 'c.0', 'c_2', 'd', 'e'].map((n) => `${prefix}${n}`);
    for (const name of names) await call('PUT', `/v1/config/${name}`, { body: { value: name } });
    await call('PUT', `/v1/config/${prefix}d`, { body: { value: 'again', version: 1 } });

    const seen: { key: string; version: number; updated_by: string }[] = [];
    let cursor: string | null = 'list';
    for (let pages = 0; cursor !== null; pages++) {
      expect(pages).toBeLessThan(10);
      const res = await call('GET', `/v1/config?limit=3&cursor=${encodeURIComponent(cursor)}`, {
        key: TEST_KEYS.read,
      });
      expect(res.status).toBe(200);
      const page = (await res.json()) as {
        keys: { key: string; version: number; updated_by: string }[];
        next_cursor: string | null;
      };
      expect(page.keys.length).toBeLessThanOrEqual(3);
      for (const k of page.keys) expect(k).not.toHaveProperty('value');
      seen.push(...page.keys);
      cursor = page.next_cursor;
      if (page.keys.at(-1) && !page.keys.at(-1)!.key.startsWith(prefix)) break;
    }
    const listed = seen.filter((k) => k.key.startsWith(prefix));
    expect(listed.map((k) => k.key)).toEqual([...names].sort());
    expect(listed.find((k) => k.key === `${prefix}d`)?.version).toBe(2);
    expect(listed.every((k) => k.updated_by === 'admin-client')).toBe(true);

    const bad = await call('GET', '/v1/config?limit=0&cursor=BAD');
    expect(bad.status).toBe(400);
    expect((await problem(bad)).errors?.map((e) => e.path).sort()).toEqual(['cursor', 'limit']);
  });

  it('the SDK: setConfig, getConfig (a version, or undefined) and listConfig', async () => {
    const admin = new StowageClient({ baseUrl: base, apiKey: TEST_KEYS.admin, retry: false });
    const reader = new StowageClient({ baseUrl: base, apiKey: TEST_KEYS.read, retry: false });
    const created = await admin.setConfig('sdk.rules', NOTIFICATION_RULES);
    expect(created).toMatchObject({ key: 'sdk.rules', version: 1, value: NOTIFICATION_RULES });
    const updated = await admin.setConfig('sdk.rules', { critical: {} }, { version: 1 });
    expect(updated.version).toBe(2);
    expect((await reader.getConfig('sdk.rules'))?.value).toEqual({ critical: {} });
    expect((await reader.getConfig('sdk.rules', { version: 1 }))?.value).toEqual(
      NOTIFICATION_RULES,
    );
    expect(await reader.getConfig('sdk.nothing')).toBeUndefined();

    const stale = await admin
      .setConfig('sdk.rules', { lost: true }, { version: 1 })
      .catch((err: unknown) => err);
    expect(stale).toBeInstanceOf(StowageApiError);
    expect((stale as StowageApiError).status).toBe(409);
    expect((stale as StowageApiError).problem.current_version).toBe(2);

    const page = await reader.listConfig({ cursor: 'sdk', limit: 1 });
    expect(page.keys).toEqual([
      expect.objectContaining({ key: 'sdk.rules', version: 2, updated_by: 'admin-client' }),
    ]);
  });
});

describe('stowage config get|set|list (the operator CLI, straight through PostgreSQL)', () => {
  let world: TestWorld;
  let base: string;

  beforeAll(async () => {
    world = new TestWorld();
    await world.initStores();
    base = await world.startApi();
  });
  afterAll(async () => {
    await world?.close();
  });

  async function cli(...args: string[]) {
    let stdout = '';
    let stderr = '';
    const code = await runOperatorCommand('config', args, () => world.config, {
      stdout: { write: (t: string) => (stdout += t) },
      stderr: { write: (t: string) => (stderr += t), isTTY: false },
    });
    return { code, stdout, stderr };
  }

  it('sets, reads and lists what the api serves; a stale version exits 1 and writes nothing', async () => {
    const created = await cli(
      'set',
      'notification_rules',
      '--value',
      '{"critical":{"slack":true}}',
      '--by',
      'ops-alice',
      '--json',
    );
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({
      key: 'notification_rules',
      version: 1,
      value: { critical: { slack: true } },
      updated_by: 'cli:ops-alice',
    });
    const updated = await cli('set', 'notification_rules', '--value', '"plain"', '--version', '1');
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.stdout).toMatch(/version:\s+2/);

    const stale = await cli('set', 'notification_rules', '--value', '1', '--version', '1');
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('is at version 2, not 1');

    const api = await fetch(`${base}/v1/config/notification_rules`, {
      headers: { authorization: `Bearer ${TEST_KEYS.read}` },
    });
    expect(await api.json()).toMatchObject({ value: 'plain', version: 2 });
    const old = await cli('get', 'notification_rules', '--version', '1', '--json');
    expect(JSON.parse(old.stdout)).toMatchObject({ value: { critical: { slack: true } } });
    const missing = await cli('get', 'nothing-here');
    expect(missing.code).toBe(1);

    const list = await cli('list', '--json');
    expect(JSON.parse(list.stdout)).toEqual({
      keys: [expect.objectContaining({ key: 'notification_rules', version: 2 })],
      next_cursor: null,
    });
  });

  it('a bad key, version or value is a usage error (exit 2) before any connection', async () => {
    for (const args of [
      ['set', 'Bad Key', '--value', '1'],
      ['set', 'ok', '--value', 'not json'],
      ['set', 'ok'],
      ['get', 'ok', '--version', '0'],
      ['list', '--limit', '0'],
      ['frobnicate'],
    ]) {
      expect((await cli(...args)).code, args.join(' ')).toBe(2);
    }
  });
});
