import { describe, expect, it } from 'vitest';
import { retentionCleanupJob } from '../../jobs/retention-cleanup/definition.js';
import { uploadsAbortStaleJob } from '../../jobs/uploads-abort-stale/definition.js';

describe('retention.cleanup payload', () => {
  it('defaults to a real run over every target with the configured windows', () => {
    expect(retentionCleanupJob.payload.parse({})).toEqual({
      dry_run: false,
      targets: ['hot', 'samples', 'activities', 'records', 'detections'],
    });
  });

  it('takes day overrides of 0 and up, and each target once', () => {
    expect(
      retentionCleanupJob.payload.parse({ hot_days: 0, sample_days: 0, targets: ['hot', 'hot'] }),
    ).toEqual({ dry_run: false, hot_days: 0, sample_days: 0, targets: ['hot'] });
  });

  it('refuses negative or fractional days, unknown and empty targets', () => {
    for (const bad of [
      { hot_days: -1 },
      { sample_days: 1.5 },
      { activity_days: -1 },
      { activity_days: 0.5 },
      { detection_days: -1 },
      { detection_days: 0.5 },
      { targets: ['ta-bundles'] },
      { targets: [] },
      { dry_run: 'yes' },
    ]) {
      expect(retentionCleanupJob.payload.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('uploads.abort-stale payload', () => {
  it('defaults to a real run with the configured limit', () => {
    expect(uploadsAbortStaleJob.payload.parse({})).toEqual({ dry_run: false });
  });

  it('takes a limit in hours (> 0) or whole seconds (>= 1)', () => {
    expect(uploadsAbortStaleJob.payload.parse({ older_than_hours: 0.5 })).toMatchObject({
      older_than_hours: 0.5,
    });
    expect(uploadsAbortStaleJob.payload.parse({ older_than_seconds: 2 })).toMatchObject({
      older_than_seconds: 2,
    });
    for (const bad of [
      { older_than_hours: 0 },
      { older_than_seconds: 0 },
      { older_than_seconds: 1.5 },
    ]) {
      expect(uploadsAbortStaleJob.payload.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});
