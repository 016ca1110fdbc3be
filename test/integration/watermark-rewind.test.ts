// The one way back for a watermark: an admin's explicit rewind, over the api and the
// operator CLI, each writing an audit row; collectors (ingest keys) can never rewind, and a
// plain PUT with an older timestamp stays a recorded no-op.
import { userInfo } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOperatorCommand } from '../../src/cli/operator.js';
import { StowageWorld, TEST_KEYS } from '../helpers/world.js';

const POISONED = new Date('9999-12-31T00:00:00Z');

describe('watermark rewind', () => {
  let world: StowageWorld;
  let base: string;
  const send = (method: string, path: string, body: unknown, key: string) =>
    fetch(`${base}/api/v1/watermarks/${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
    });
  const put = (source: string, timestamp: string) =>
    send('PUT', source, { timestamp, status: 'success' }, TEST_KEYS.ingest);
  const rewind = (source: string, body: unknown, key: string = TEST_KEYS.admin) =>
    send('POST', `${source}/rewind`, body, key);
  const store = () => world.deps.watermarks;

  /** Runs `stowage watermarks …` in-process against this world's database. */
  async function cli(...args: string[]) {
    let stdout = '';
    let stderr = '';
    const code = await runOperatorCommand('watermarks', args, () => world.config, {
      stdout: { write: (t: string) => (stdout += t) },
      stderr: { write: (t: string) => (stderr += t), isTTY: false },
    });
    return { code, stdout, stderr };
  }

  beforeAll(async () => {
    world = new StowageWorld();
    await world.initStores();
    base = await world.startApi();
  });
  afterAll(async () => {
    await world.close();
  });

  it('an admin moves a poisoned watermark back; the audit row says who, when, from, to and why', async () => {
    // A watermark set to 9999-12-31 before timestamps had bounds (the store takes any Date).
    await store().commit({ source_id: 'otx', timestamp: POISONED, status: 'success' });
    const before = Date.now();
    const res = await rewind('otx', {
      timestamp: '2026-11-30T00:00:00Z',
      reason: 'watermark poisoned by a 9999 timestamp',
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { watermark: unknown; rewind: { id: number } };
    expect(body.watermark).toEqual({
      source_id: 'otx',
      last_successful_timestamp: '2026-11-30T00:00:00Z',
      // The poisoned run timestamp comes back too, so later runs show as the latest again.
      last_run_timestamp: '2026-11-30T00:00:00Z',
      status: 'success',
      records_collected: 0,
      error_message: null,
    });
    expect(body.rewind).toMatchObject({
      source_id: 'otx',
      from: '9999-12-31T00:00:00Z',
      to: '2026-11-30T00:00:00Z',
      by: 'admin-client',
      via: 'api',
      reason: 'watermark poisoned by a 9999 timestamp',
    });

    const [row, ...more] = await store().rewinds('otx');
    expect(more).toEqual([]);
    expect(row).toMatchObject({
      id: body.rewind.id,
      source_id: 'otx',
      from_timestamp: POISONED,
      to_timestamp: new Date('2026-11-30T00:00:00Z'),
      rewound_by: 'admin-client',
      via: 'api',
      reason: 'watermark poisoned by a 9999 timestamp',
    });
    expect(row!.rewound_at.getTime()).toBeGreaterThanOrEqual(before - 5_000);
    expect(row!.rewound_at.getTime()).toBeLessThanOrEqual(Date.now() + 5_000);
    expect((await store().get('otx'))?.last_successful_timestamp).toEqual(
      new Date('2026-11-30T00:00:00Z'),
    );

    // The audit is readable with a read key; the collector moves forward again as usual.
    const listed = await fetch(`${base}/api/v1/watermarks/otx/rewinds`, {
      headers: { authorization: `Bearer ${TEST_KEYS.read}` },
    });
    expect(listed.status).toBe(200);
    expect(await listed.json()).toEqual({ source_id: 'otx', rewinds: [body.rewind] });
    const forward = await put('otx', '2026-12-01T00:00:00Z');
    expect(await forward.json()).toMatchObject({
      last_successful_timestamp: '2026-12-01T00:00:00Z',
    });
  });

  it('ingest, read and artifacts keys get 403 and nothing moves', async () => {
    await put('feed', '2024-06-01T00:00:00Z');
    for (const key of [TEST_KEYS.ingest, TEST_KEYS.read, TEST_KEYS.artifacts]) {
      const res = await rewind('feed', { timestamp: '2024-01-01T00:00:00Z', reason: 'x' }, key);
      expect(res.status).toBe(403);
      expect(((await res.json()) as { code: string }).code).toBe('forbidden');
    }
    expect((await store().get('feed'))?.last_successful_timestamp).toEqual(
      new Date('2024-06-01T00:00:00Z'),
    );
    expect(await store().rewinds('feed')).toEqual([]);
  });

  it('a plain PUT with an older timestamp stays a recorded no-op', async () => {
    await put('plain', '2024-06-01T00:00:00Z');
    const older = await put('plain', '2024-01-01T00:00:00Z');
    expect(older.status).toBe(200);
    expect(await older.json()).toMatchObject({ last_successful_timestamp: '2024-06-01T00:00:00Z' });
    expect((await store().history('plain')).map((h) => h.outcome)).toEqual(['stale', 'advanced']);
    expect(await store().rewinds('plain')).toEqual([]);
  });

  it('a rewind that is not backwards is a 409, an unknown source a 404, and neither writes', async () => {
    await put('fwd', '2024-06-01T00:00:00Z');
    for (const timestamp of ['2024-06-01T00:00:00Z', '2024-07-01T00:00:00Z']) {
      const res = await rewind('fwd', { timestamp, reason: 'x' });
      expect(res.status).toBe(409);
      expect(((await res.json()) as { errors: { path: string }[] }).errors).toEqual([
        { path: 'timestamp', message: 'must be before the current watermark 2024-06-01T00:00:00Z' },
      ]);
    }
    const missing = await rewind('nobody', { timestamp: '2024-01-01T00:00:00Z', reason: 'x' });
    expect(missing.status).toBe(404);
    expect(await store().rewinds('fwd')).toEqual([]);
    expect(await store().get('nobody')).toBeUndefined();
  });

  it('a rewind body out of bounds, without a reason or with an unknown key is a 400 naming it', async () => {
    await put('bad', '2024-06-01T00:00:00Z');
    const paths = async (body: unknown) => {
      const res = await rewind('bad', body);
      expect(res.status).toBe(400);
      return ((await res.json()) as { errors: { path: string }[] }).errors.map((e) => e.path);
    };
    expect(await paths({ timestamp: '9999-12-31T00:00:00Z', reason: 'x' })).toEqual(['timestamp']);
    expect(await paths({ timestamp: '1990-01-01T00:00:00Z', reason: 'x' })).toEqual(['timestamp']);
    expect(await paths({ timestamp: '2024-01-01T00:00:00Z' })).toEqual(['reason']);
    expect(await paths({ timestamp: '2024-01-01T00:00:00Z', reason: 'x', rewind: true })).toEqual([
      'rewind',
    ]);
    expect(await store().rewinds('bad')).toEqual([]);
  });

  it('stowage watermarks set --rewind goes back with an audit row naming --by, or the OS user', async () => {
    await put('cli-src', '2024-06-01T00:00:00Z');
    const plain = await cli('set', 'cli-src', '--timestamp', '2024-03-01T00:00:00Z');
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain('--rewind --reason');

    const byAlice = await cli(
      'set',
      'cli-src',
      '--timestamp',
      '2024-03-01T00:00:00Z',
      '--rewind',
      '--reason',
      'replay March',
      '--by',
      'alice',
      '--json',
    );
    expect(byAlice.code, byAlice.stderr).toBe(0);
    expect(JSON.parse(byAlice.stdout)).toMatchObject({
      watermark: { last_successful_timestamp: '2024-03-01T00:00:00Z' },
      rewind: {
        from: '2024-06-01T00:00:00Z',
        to: '2024-03-01T00:00:00Z',
        by: 'alice',
        via: 'cli',
        reason: 'replay March',
      },
    });

    const byOsUser = await cli(
      'set',
      'cli-src',
      '--timestamp',
      '2024-02-01T00:00:00Z',
      '--rewind',
      '--reason',
      'again',
    );
    expect(byOsUser.code, byOsUser.stderr).toBe(0);
    expect(byOsUser.stderr).toContain(
      'rewound cli-src from 2024-03-01T00:00:00Z to 2024-02-01T00:00:00Z',
    );
    const rows = await store().rewinds('cli-src');
    expect(rows.map((r) => [r.rewound_by, r.via, r.reason])).toEqual([
      [userInfo().username, 'cli', 'again'],
      ['alice', 'cli', 'replay March'],
    ]);
  });

  it('the CLI refuses a rewind without a reason and out-of-bounds timestamps with exit 2', async () => {
    await put('cli-bad', '2024-06-01T00:00:00Z');
    const noReason = await cli('set', 'cli-bad', '--timestamp', '2024-01-01T00:00:00Z', '--rewind');
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain('missing --reason');
    for (const ts of ['9999-12-31T00:00:00Z', '1990-01-01T00:00:00Z']) {
      const out = await cli('set', 'cli-bad', '--timestamp', ts, '--rewind', '--reason', 'x');
      expect(out.code).toBe(2);
      expect(out.stderr).toMatch(/timestamp: must not be (after|before)/);
      const forward = await cli('set', 'cli-bad', '--timestamp', ts);
      expect(forward.code).toBe(2);
    }
    expect(await store().rewinds('cli-bad')).toEqual([]);
    expect((await store().get('cli-bad'))?.last_successful_timestamp).toEqual(
      new Date('2024-06-01T00:00:00Z'),
    );
  });
});
