import { describe, expect, it } from 'vitest';
import {
  applyCommit,
  formatTimestamp,
  sourceIdSchema,
  toWatermarkView,
  watermarkCommitSchema,
  watermarkPutBodySchema,
  watermarkRewindBodySchema,
  type Watermark,
  type WatermarkCommit,
} from '../../src/domain/watermark.js';
import { watermarkCommitJob } from '../../jobs/watermark-commit/definition.js';
import { createWatermarkCommitHandler } from '../../jobs/watermark-commit/handler.js';
import type { JobContext } from '../../jobs/job-definition.js';
import type { CommitResult } from '../../src/stores/postgres/watermark-store.js';

const at = (iso: string) => new Date(iso);
const commit = (
  timestamp: string,
  status: 'success' | 'failed' = 'success',
  extra: Partial<WatermarkCommit> = {},
): WatermarkCommit => ({ source_id: 'otx', timestamp: at(timestamp), status, ...extra });

describe('watermark commit schema', () => {
  it('parses seed 001 PUT bodies, reading a timestamp without an offset as UTC', () => {
    const parsed = watermarkPutBodySchema.parse({
      timestamp: '2024-01-01T12:30:00Z',
      status: 'success',
      error_message: null,
    });
    expect(parsed).toEqual({
      timestamp: at('2024-01-01T12:30:00Z'),
      status: 'success',
      error_message: null,
    });
    const naive = watermarkPutBodySchema.parse({
      timestamp: '2024-01-01T12:30:00.123456',
      status: 'failed',
    });
    expect(naive.timestamp.toISOString()).toBe('2024-01-01T12:30:00.123Z');
    const offset = watermarkPutBodySchema.parse({
      timestamp: '2024-01-01T14:30:00+02:00',
      status: 'success',
    });
    expect(offset.timestamp.toISOString()).toBe('2024-01-01T12:30:00.000Z');
  });

  it('accepts a Date from typed producers', () => {
    const d = at('2024-05-01T00:00:00Z');
    expect(
      watermarkCommitSchema.parse({ source_id: 'a', timestamp: d, status: 'success' }),
    ).toEqual({ source_id: 'a', timestamp: d, status: 'success' });
  });

  it('names each failing field', () => {
    const result = watermarkCommitSchema.safeParse({
      source_id: '-bad',
      timestamp: '2024-02-30T00:00:00Z',
      status: 'ok',
      records_collected: -1,
      error_message: 'x'.repeat(4097),
    });
    expect(result.success).toBe(false);
    const paths = result.error!.issues.map((i) => i.path.join('.')).sort();
    expect(paths).toEqual([
      'error_message',
      'records_collected',
      'source_id',
      'status',
      'timestamp',
    ]);
    const timestampIssue = result.error!.issues.find((i) => i.path[0] === 'timestamp');
    expect(timestampIssue?.message).toMatch(/ISO 8601/);
  });

  it.each(['yesterday', '2024-01-01', '2024-01-01 12:00:00', '1704112200', ''])(
    'refuses the timestamp %j',
    (timestamp) => {
      expect(watermarkPutBodySchema.safeParse({ timestamp, status: 'success' }).success).toBe(
        false,
      );
    },
  );

  it('refuses a run timestamp far in the future or before the floor, at path timestamp', () => {
    for (const timestamp of ['9999-12-31T00:00:00Z', '1990-01-01T00:00:00Z']) {
      const put = watermarkPutBodySchema.safeParse({ timestamp, status: 'success' });
      expect(put.error?.issues.map((i) => i.path.join('.'))).toEqual(['timestamp']);
      const job = watermarkCommitJob.payload.safeParse({
        source_id: 'otx',
        timestamp,
        status: 'failed',
      });
      expect(job.error?.issues.map((i) => i.path.join('.'))).toEqual(['timestamp']);
    }
    expect(
      watermarkPutBodySchema.safeParse({ timestamp: '2000-01-01T00:00:00Z', status: 'success' })
        .success,
    ).toBe(true);
  });

  it('a rewind needs an in-bounds timestamp and a non-empty reason, and nothing else', () => {
    const ok = watermarkRewindBodySchema.parse({
      timestamp: '2024-01-01T00:00:00Z',
      reason: '  replay after the OTX outage  ',
    });
    expect(ok).toEqual({
      timestamp: at('2024-01-01T00:00:00Z'),
      reason: 'replay after the OTX outage',
    });
    const paths = (body: unknown) =>
      watermarkRewindBodySchema.safeParse(body).error?.issues.map((i) => i.path.join('.'));
    expect(paths({ timestamp: '9999-12-31T00:00:00Z', reason: 'x' })).toEqual(['timestamp']);
    expect(paths({ timestamp: '1990-01-01T00:00:00Z', reason: 'x' })).toEqual(['timestamp']);
    expect(paths({ timestamp: '2024-01-01T00:00:00Z' })).toEqual(['reason']);
    expect(paths({ timestamp: '2024-01-01T00:00:00Z', reason: '   ' })).toEqual(['reason']);
    expect(paths({ timestamp: '2024-01-01T00:00:00Z', reason: 'a\u0000b' })).toEqual(['reason']);
    const extra = watermarkRewindBodySchema.safeParse({
      timestamp: '2024-01-01T00:00:00Z',
      reason: 'x',
      force: true,
    });
    expect(extra.error?.issues).toMatchObject([{ code: 'unrecognized_keys', keys: ['force'] }]);
  });

  it('accepts source ids as collectors name them, up to 128 characters', () => {
    for (const ok of ['alienvault_otx', 'AbuseIPDB', 'feed.v2-eu', 'a'.repeat(128)]) {
      expect(sourceIdSchema.safeParse(ok).success, ok).toBe(true);
    }
    for (const bad of ['', '_x', '.x', 'a b', 'a/b', 'a'.repeat(129)]) {
      expect(sourceIdSchema.safeParse(bad).success, bad).toBe(false);
    }
  });
});

describe('watermark view', () => {
  it('formats timestamps like seed 001, keeping milliseconds only when present', () => {
    expect(formatTimestamp(at('2024-01-01T12:00:00Z'))).toBe('2024-01-01T12:00:00Z');
    expect(formatTimestamp(at('2024-01-01T12:00:00.250Z'))).toBe('2024-01-01T12:00:00.250Z');
  });

  it('shows the seed 001 fields, with a null success timestamp before the first success', () => {
    const watermark: Watermark = {
      source_id: 'alienvault_otx',
      last_successful_timestamp: null,
      last_run_timestamp: at('2024-01-01T12:05:00Z'),
      status: 'failed',
      records_collected: 0,
      error_message: 'timeout',
      updated_at: new Date(),
    };
    expect(toWatermarkView(watermark)).toEqual({
      source_id: 'alienvault_otx',
      last_successful_timestamp: null,
      last_run_timestamp: '2024-01-01T12:05:00Z',
      status: 'failed',
      records_collected: 0,
      error_message: 'timeout',
    });
  });
});

describe('applyCommit', () => {
  const first = applyCommit(
    undefined,
    commit('2024-01-01T12:00:00Z', 'success', { records_collected: 150 }),
  );

  it('a first success sets both timestamps', () => {
    expect(first).toMatchObject({ outcome: 'advanced', advanced: true, changed: true });
    expect(first.next).toEqual({
      source_id: 'otx',
      last_successful_timestamp: at('2024-01-01T12:00:00Z'),
      last_run_timestamp: at('2024-01-01T12:00:00Z'),
      status: 'success',
      records_collected: 150,
      error_message: null,
    });
  });

  it('a first failure leaves the success timestamp null', () => {
    const failed = applyCommit(
      undefined,
      commit('2024-01-01T12:00:00Z', 'failed', { error_message: 'boom' }),
    );
    expect(failed.outcome).toBe('failed-run');
    expect(failed.next.last_successful_timestamp).toBeNull();
    expect(failed.next.error_message).toBe('boom');
  });

  it('an older or equal success is a no-op', () => {
    for (const ts of ['2024-01-01T11:00:00Z', '2024-01-01T12:00:00Z']) {
      const stale = applyCommit(first.next, commit(ts));
      expect(stale).toMatchObject({ outcome: 'stale', advanced: false, changed: false });
      expect(stale.next).toBe(first.next);
    }
  });

  it('a failure records the run and keeps the success timestamp', () => {
    const failed = applyCommit(
      first.next,
      commit('2024-01-01T12:10:00Z', 'failed', { error_message: 'HTTP 503' }),
    );
    expect(failed.next).toMatchObject({
      last_successful_timestamp: at('2024-01-01T12:00:00Z'),
      last_run_timestamp: at('2024-01-01T12:10:00Z'),
      status: 'failed',
      error_message: 'HTTP 503',
      records_collected: 0,
    });
  });

  it('a failure older than the latest run does not overwrite its status', () => {
    const late = applyCommit(
      first.next,
      commit('2024-01-01T11:00:00Z', 'failed', { error_message: 'late' }),
    );
    expect(late).toMatchObject({ outcome: 'failed-run', changed: false });
    expect(late.next).toMatchObject({ status: 'success', error_message: null });
  });

  it('a success between the last success and a later failure advances but keeps the failed run as latest', () => {
    const failed = applyCommit(
      first.next,
      commit('2024-01-01T13:00:00Z', 'failed', { error_message: 'x' }),
    );
    const between = applyCommit(
      failed.next,
      commit('2024-01-01T12:30:00Z', 'success', { records_collected: 9 }),
    );
    expect(between.outcome).toBe('advanced');
    expect(between.next).toMatchObject({
      last_successful_timestamp: at('2024-01-01T12:30:00Z'),
      last_run_timestamp: at('2024-01-01T13:00:00Z'),
      status: 'failed',
      error_message: 'x',
    });
  });

  it('any order of the same commits ends at the same watermark', () => {
    const commits = [
      commit('2024-01-01T10:00:00Z'),
      commit('2024-01-01T14:00:00Z', 'success', { records_collected: 4 }),
      commit('2024-01-01T12:00:00Z', 'failed', { error_message: 'e' }),
      commit('2024-01-01T15:00:00Z', 'failed', { error_message: 'latest' }),
      commit('2024-01-01T11:00:00Z'),
    ];
    const run = (order: WatermarkCommit[]) =>
      order.reduce<ReturnType<typeof applyCommit>['next'] | undefined>(
        (w, c) => applyCommit(w, c).next,
        undefined,
      );
    const expected = run(commits);
    expect(run([...commits].reverse())).toEqual(expected);
    expect(run([commits[3]!, commits[0]!, commits[4]!, commits[1]!, commits[2]!])).toEqual(
      expected,
    );
    expect(expected).toMatchObject({
      last_successful_timestamp: at('2024-01-01T14:00:00Z'),
      last_run_timestamp: at('2024-01-01T15:00:00Z'),
      status: 'failed',
      error_message: 'latest',
    });
  });
});

describe('watermark.commit job', () => {
  it('derives one idempotency key per source, timestamp and status', () => {
    const payload = watermarkCommitJob.payload.parse(watermarkCommitJob.fixture);
    expect(watermarkCommitJob.idempotencyKey?.(payload)).toBe(
      'alienvault_otx:2024-01-01T12:30:00.000Z:success',
    );
  });

  const ctx = (children: Record<string, unknown>, jobId = 'watermark.commit.k1'): JobContext =>
    ({
      jobId,
      log: { info: () => undefined },
      childResults: () => Promise.resolve(children),
    }) as unknown as JobContext;

  const fakeStore = () => {
    const calls: [WatermarkCommit, { jobId?: string } | undefined][] = [];
    const store = {
      calls,
      commit: (c: WatermarkCommit, options?: { jobId?: string }): Promise<CommitResult> => {
        calls.push([c, options]);
        const next = applyCommit(undefined, c);
        return Promise.resolve({
          watermark: { ...next.next, updated_at: new Date() },
          outcome: next.outcome,
          created: true,
          replayed: false,
        });
      },
    };
    return store;
  };

  it('commits under the job id and returns the outcome and the success timestamp', async () => {
    const store = fakeStore();
    const handler = createWatermarkCommitHandler({ watermarks: store });
    const payload = watermarkCommitJob.payload.parse(watermarkCommitJob.fixture);
    expect(await handler(payload, ctx({}))).toEqual({
      outcome: 'advanced',
      last_successful_timestamp: '2024-01-01T12:30:00Z',
    });
    expect(store.calls[0]![1]).toEqual({ jobId: 'watermark.commit.k1' });
    expect(store.calls[0]![0].records_collected).toBe(150);
  });

  it('as a flow parent, counts what its insert children wrote when the payload does not say', async () => {
    const store = fakeStore();
    const handler = createWatermarkCommitHandler({ watermarks: store });
    const payload = watermarkCommitJob.payload.parse({
      source_id: 'otx',
      timestamp: '2024-01-01T12:30:00Z',
      status: 'success',
    });
    await handler(
      payload,
      ctx({ 'a:iocs.insert.1': { written: 1000 }, 'a:iocs.insert.2': { written: 234 }, x: null }),
    );
    expect(store.calls[0]![0].records_collected).toBe(1234);
    await handler(payload, ctx({}));
    expect(store.calls[1]![0]).not.toHaveProperty('records_collected');
  });
});
