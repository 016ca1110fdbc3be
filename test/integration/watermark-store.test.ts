import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { TransientError } from '../../src/errors/index.js';
import { createPgPool } from '../../src/connections/postgres.js';
import type { WatermarkCommit } from '../../src/domain/watermark.js';
import { PostgresWatermarkStore } from '../../src/stores/postgres/watermark-store.js';

const at = (iso: string) => new Date(iso);
const run = (
  source_id: string,
  timestamp: Date | string,
  status: 'success' | 'failed' = 'success',
  extra: Partial<WatermarkCommit> = {},
): WatermarkCommit => ({
  source_id,
  timestamp: typeof timestamp === 'string' ? at(timestamp) : timestamp,
  status,
  ...extra,
});

const audit = { by: 'ops', via: 'cli' as const, reason: 'test' };

describe('PostgresWatermarkStore', () => {
  const schema = `t_wm_${randomBytes(5).toString('hex')}`;
  let pool: pg.Pool;
  let store: PostgresWatermarkStore;
  let n = 0;
  const source = () => `src-${++n}`;

  beforeAll(async () => {
    pool = createPgPool(loadConfig(process.env).DATABASE_URL, 60);
    store = new PostgresWatermarkStore(pool, { schema });
    await store.init();
  });
  afterAll(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  });

  it('init is safe to run again and from several replicas at once', async () => {
    const replicas = Array.from({ length: 5 }, () => new PostgresWatermarkStore(pool, { schema }));
    await Promise.all(replicas.map((r) => r.init()));
    const fresh = `t_wm_${randomBytes(5).toString('hex')}`;
    try {
      await Promise.all(
        Array.from({ length: 5 }, () => new PostgresWatermarkStore(pool, { schema: fresh }).init()),
      );
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS "${fresh}" CASCADE`);
    }
  });

  it('get is undefined before the first commit', async () => {
    expect(await store.get(source())).toBeUndefined();
  });

  it('a first success creates the watermark; a newer one advances it', async () => {
    const id = source();
    const first = await store.commit(
      run(id, '2024-01-01T12:00:00Z', 'success', { records_collected: 150 }),
    );
    expect(first).toMatchObject({ outcome: 'advanced', created: true, replayed: false });
    const second = await store.commit(
      run(id, '2024-01-01T12:30:00Z', 'success', { records_collected: 20 }),
    );
    expect(second).toMatchObject({ outcome: 'advanced', created: false });
    expect(await store.get(id)).toMatchObject({
      source_id: id,
      last_successful_timestamp: at('2024-01-01T12:30:00Z'),
      last_run_timestamp: at('2024-01-01T12:30:00Z'),
      status: 'success',
      records_collected: 20,
      error_message: null,
    });
  });

  it('an older commit is a no-op recorded in the history', async () => {
    const id = source();
    await store.commit(run(id, '2024-01-01T12:30:00Z', 'success', { records_collected: 5 }));
    const before = await store.get(id);
    const older = await store.commit(run(id, '2024-01-01T12:00:00Z', 'success'));
    const equal = await store.commit(run(id, '2024-01-01T12:30:00Z', 'success'));
    expect(older.outcome).toBe('stale');
    expect(equal.outcome).toBe('stale');
    expect(await store.get(id)).toEqual(before);
    const history = await store.history(id);
    expect(history.map((h) => [h.outcome, h.applied])).toEqual([
      ['stale', false],
      ['stale', false],
      ['advanced', true],
    ]);
    expect(history[1]!.timestamp).toEqual(at('2024-01-01T12:00:00Z'));
  });

  it('a failed run keeps the success timestamp and records the error and the run time', async () => {
    const id = source();
    await store.commit(run(id, '2024-01-01T12:00:00Z', 'success', { records_collected: 150 }));
    const failed = await store.commit(
      run(id, '2024-01-01T12:05:00Z', 'failed', { error_message: 'HTTP 503 from OTX' }),
    );
    expect(failed.outcome).toBe('failed-run');
    expect(await store.get(id)).toMatchObject({
      last_successful_timestamp: at('2024-01-01T12:00:00Z'),
      last_run_timestamp: at('2024-01-01T12:05:00Z'),
      status: 'failed',
      error_message: 'HTTP 503 from OTX',
      records_collected: 0,
    });
    const [latest] = await store.history(id, 1);
    expect(latest).toMatchObject({
      status: 'failed',
      outcome: 'failed-run',
      applied: false,
      error_message: 'HTTP 503 from OTX',
      records_collected: null,
      job_id: null,
    });
  });

  it('a source that only failed has a watermark with no success timestamp', async () => {
    const id = source();
    const result = await store.commit(
      run(id, '2024-01-01T12:00:00Z', 'failed', { error_message: 'x' }),
    );
    expect(result.created).toBe(true);
    expect(result.watermark.last_successful_timestamp).toBeNull();
  });

  it('50 parallel commits at random timestamps in random order end at the maximum', async () => {
    const id = source();
    const base = at('2024-03-01T00:00:00Z').getTime();
    const times = Array.from({ length: 50 }, () => base + Math.floor(Math.random() * 86_400_000));
    const commits = times.map((t, i) =>
      run(id, new Date(t), i % 7 === 3 ? 'failed' : 'success', {
        records_collected: i,
        ...(i % 7 === 3 ? { error_message: `run ${i} failed` } : {}),
      }),
    );
    for (let i = commits.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [commits[i], commits[j]] = [commits[j]!, commits[i]!];
    }
    const results = await Promise.all(
      commits.map((c, i) => store.commit(c, { jobId: `job-${i}` })),
    );

    const successes = commits.filter((c) => c.status === 'success');
    const maxSuccess = Math.max(...successes.map((c) => c.timestamp.getTime()));
    const maxRun = Math.max(...times);
    const latest = commits.find((c) => c.timestamp.getTime() === maxRun)!;
    const watermark = await store.get(id);
    expect(watermark?.last_successful_timestamp?.getTime()).toBe(maxSuccess);
    expect(watermark?.last_run_timestamp.getTime()).toBe(maxRun);
    expect(watermark?.status).toBe(latest.status);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await store.history(id, 1_000)).toHaveLength(50);
    // Under the row lock each advance is strictly newer than the one before it.
    const advances = (await store.history(id, 1_000))
      .filter((h) => h.applied)
      .reverse()
      .map((h) => h.timestamp.getTime());
    expect(advances).toEqual([...advances].sort((a, b) => a - b));
    expect(new Set(advances).size).toBe(advances.length);
  });

  it('replaying a job id adds no history row and leaves the same watermark', async () => {
    const id = source();
    const first = await store.commit(run(id, '2024-01-01T12:00:00Z'), { jobId: 'job-a' });
    await store.commit(run(id, '2024-01-01T12:10:00Z', 'failed', { error_message: 'e' }), {
      jobId: 'job-b',
    });
    const before = await store.get(id);
    const replays = await Promise.all([
      store.commit(run(id, '2024-01-01T12:00:00Z'), { jobId: 'job-a' }),
      store.commit(run(id, '2024-01-01T12:00:00Z'), { jobId: 'job-a' }),
      store.commit(run(id, '2024-01-01T12:10:00Z', 'failed', { error_message: 'e' }), {
        jobId: 'job-b',
      }),
    ]);
    expect(replays.map((r) => [r.outcome, r.replayed, r.created])).toEqual([
      ['advanced', true, false],
      ['advanced', true, false],
      ['failed-run', true, false],
    ]);
    expect(first.outcome).toBe('advanced');
    expect(await store.get(id)).toEqual(before);
    const history = await store.history(id);
    expect(history.map((h) => h.job_id)).toEqual(['job-b', 'job-a']);
  });

  it('concurrent first deliveries of one job leave one history row', async () => {
    const id = source();
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        store.commit(run(id, '2024-01-01T12:00:00Z'), { jobId: 'job-x' }),
      ),
    );
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await store.history(id)).toHaveLength(1);
  });

  it('PostgreSQL being away is a transient error, so the job is retried and the API answers 503', async () => {
    const away = createPgPool('postgres://postgres@127.0.0.1:1/stowage', 1);
    try {
      const unreachable = new PostgresWatermarkStore(away, { schema });
      const error = await unreachable
        .commit(run('x', '2024-01-01T00:00:00Z'))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransientError);
      expect(error).toMatchObject({ code: 'backend_unavailable' });
    } finally {
      await away.end();
    }
  });

  it('the same job id may be used by different sources', async () => {
    const a = source();
    const b = source();
    await store.commit(run(a, '2024-01-01T12:00:00Z'), { jobId: 'shared' });
    const other = await store.commit(run(b, '2024-01-01T12:00:00Z'), { jobId: 'shared' });
    expect(other).toMatchObject({ created: true, replayed: false });
  });

  it('a rewind goes back only, and writes nothing when it would not', async () => {
    const id = source();
    expect(await store.rewind(id, at('2024-01-01T00:00:00Z'), audit)).toEqual({
      outcome: 'not-found',
    });
    await store.commit(run(id, '2024-01-01T12:00:00Z', 'failed', { error_message: 'down' }));
    // Only failed runs: there is no success timestamp to go back from.
    expect(await store.rewind(id, at('2024-01-01T00:00:00Z'), audit)).toMatchObject({
      outcome: 'not-earlier',
    });
    await store.commit(run(id, '2024-01-02T00:00:00Z'));
    for (const to of ['2024-01-02T00:00:00Z', '2024-01-03T00:00:00Z']) {
      expect(await store.rewind(id, at(to), audit)).toMatchObject({ outcome: 'not-earlier' });
    }
    expect(await store.rewinds(id)).toEqual([]);
    expect((await store.get(id))?.last_successful_timestamp).toEqual(at('2024-01-02T00:00:00Z'));
  });

  it('a rewind lowers a later run timestamp with it, so the next runs show as the latest again', async () => {
    const id = source();
    await store.commit(run(id, '9999-12-31T00:00:00Z', 'success', { records_collected: 1 }));
    const rewound = await store.rewind(id, at('2024-01-01T00:00:00Z'), audit);
    expect(rewound).toMatchObject({
      outcome: 'rewound',
      watermark: {
        last_successful_timestamp: at('2024-01-01T00:00:00Z'),
        last_run_timestamp: at('2024-01-01T00:00:00Z'),
      },
      rewind: { from_timestamp: at('9999-12-31T00:00:00Z'), rewound_by: 'ops', via: 'cli' },
    });
    await store.commit(run(id, '2024-01-01T06:00:00Z', 'failed', { error_message: 'OTX 503' }));
    expect(await store.get(id)).toMatchObject({
      last_successful_timestamp: at('2024-01-01T00:00:00Z'),
      last_run_timestamp: at('2024-01-01T06:00:00Z'),
      status: 'failed',
      error_message: 'OTX 503',
    });
    // The history keeps every run as reported; the rewind is in its own table.
    expect((await store.history(id)).map((h) => h.outcome)).toEqual(['failed-run', 'advanced']);
    expect(await store.rewinds(id)).toHaveLength(1);
  });

  it('rewinds racing commits serialize on the row: each audit row starts where the last change left it', async () => {
    const id = source();
    await store.commit(run(id, '2024-01-10T00:00:00Z'));
    const commits = Array.from({ length: 10 }, (_, i) =>
      store.commit(run(id, new Date(Date.parse('2024-01-10T00:00:00Z') + (i + 1) * 60_000))),
    );
    const rewinds = Array.from({ length: 5 }, (_, i) =>
      store.rewind(id, at(`2024-01-0${i + 1}T00:00:00Z`), { ...audit, reason: `r${i}` }),
    );
    await Promise.all([...commits, ...rewinds]);
    const rows = await store.rewinds(id);
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      expect(row.to_timestamp.getTime()).toBeLessThan(row.from_timestamp.getTime());
    }
    // Every rewind that ran saw the watermark as a commit or an earlier rewind left it.
    const seen = new Set([
      ...Array.from({ length: 11 }, (_, i) => Date.parse('2024-01-10T00:00:00Z') + i * 60_000),
      ...Array.from({ length: 5 }, (_, i) => Date.parse(`2024-01-0${i + 1}T00:00:00Z`)),
    ]);
    for (const row of rows) expect(seen.has(row.from_timestamp.getTime())).toBe(true);
    const final = await store.get(id);
    expect(seen.has(final!.last_successful_timestamp!.getTime())).toBe(true);
  });

  it('the audit table refuses a row that does not go back', async () => {
    const error = await pool
      .query(
        `INSERT INTO "${schema}".watermark_rewinds (source_id, from_timestamp, to_timestamp, rewound_by, via, reason)
         VALUES ('x', '2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z', 'ops', 'cli', 'no')`,
      )
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: '23514' });
  });
});
