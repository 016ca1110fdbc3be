import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { MAX_PRIORITY, fairPriority, laneOf } from '../../queues/fair-priority.js';

describe('fair priorities', () => {
  it('a job without an explicit priority runs at its tag; priority p defers it p − 1 turns', () => {
    expect(fairPriority(7, undefined)).toBe(7);
    expect(fairPriority(7, 1)).toBe(7);
    expect(fairPriority(7, 5)).toBe(11);
  });

  it('clamps past the range to the largest BullMQ priority (the tail is FIFO)', () => {
    expect(MAX_PRIORITY).toBe(2_097_151);
    expect(fairPriority(MAX_PRIORITY + 10, undefined)).toBe(MAX_PRIORITY);
    expect(fairPriority(MAX_PRIORITY - 1, 10)).toBe(MAX_PRIORITY);
  });

  it('work of no tenant has a lane of its own, which no tenant name can take', () => {
    expect(laneOf('tenant-a')).toBe('tenant-a');
    expect(laneOf(undefined)).toBe('(none)');
  });
});

describe('FAIR_QUEUES', () => {
  const base = { API_KEYS: 'k:0123456789abcdef0123:admin' };
  it('defaults to ingest and artifacts; none turns fairness off', () => {
    expect(loadConfig(base).fairQueues).toEqual(['ingest', 'artifacts']);
    expect(loadConfig({ ...base, FAIR_QUEUES: 'none' }).fairQueues).toEqual([]);
    expect(loadConfig({ ...base, FAIR_QUEUES: 'ingest, ingest ,cache' }).fairQueues).toEqual([
      'ingest',
      'cache',
    ]);
  });

  it('an unknown queue is a configuration error naming it', () => {
    expect(() => loadConfig({ ...base, FAIR_QUEUES: 'ingest,uploads' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, FAIR_QUEUES: 'ingest,uploads' })).toThrow(
      /FAIR_QUEUES: unknown queue\(s\) uploads/,
    );
  });
});
