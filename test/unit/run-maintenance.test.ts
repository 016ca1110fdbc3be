import { describe, expect, it } from 'vitest';
import { PermanentError, ValidationError } from '../../src/errors/index.js';
import { createJobRegistry } from '../../jobs/registry.js';
import {
  planMaintenanceRun,
  type RunMaintenanceInput,
} from '../../queues/use-cases/run-maintenance.js';

const registry = createJobRegistry();
const plan = (input: RunMaintenanceInput) => planMaintenanceRun(registry, input);

/** What a plan throws. */
function refusal(input: RunMaintenanceInput): unknown {
  try {
    plan(input);
  } catch (err) {
    return err;
  }
  throw new Error('expected a refusal');
}

describe('running maintenance now (use case)', () => {
  it('lists the jobs whose definitions say an operator may run them', () => {
    const err = refusal({ job: 'iocs.insert', payload: {} });
    expect(err).toBeInstanceOf(PermanentError);
    expect(err).toMatchObject({
      code: 'unknown_job_type',
      context: {
        known: [
          'cache.promote',
          'archive.lock',
          'archive.reindex',
          'retention.cleanup',
          'uploads.abort-stale',
          'batches.sweep',
          'activities.archive',
          'detections.archive',
          'deadletters.sweep',
        ],
      },
    });
    expect(refusal({ job: 'no.such' })).toMatchObject({ code: 'unknown_job_type' });
  });

  it('refuses a dry run of a job without one, naming dry_run', () => {
    for (const input of [
      { job: 'cache.promote', dryRun: true },
      { job: 'cache.promote', payload: { dry_run: true } },
    ]) {
      const err = refusal(input);
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).issues).toEqual([
        { path: 'dry_run', message: 'cache.promote has no dry run' },
      ]);
    }
  });

  it('asks for dry_run when the caller did not say, with the payload’s own problems', () => {
    const err = refusal({ job: 'retention.cleanup', payload: { hot_days: -1 } });
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues.map((i) => i.path)).toEqual(['dry_run', 'hot_days']);
  });

  it('a caller whose default is a real run says so; the payload and --dry-run still win', () => {
    expect(plan({ job: 'retention.cleanup', dryRun: false }).payload).toEqual({ dry_run: false });
    expect(
      plan({ job: 'retention.cleanup', payload: { dry_run: true }, dryRun: false }).payload,
    ).toEqual({ dry_run: true });
    expect(
      plan({ job: 'uploads.abort-stale', payload: { dry_run: false }, dryRun: true }).payload,
    ).toEqual({ dry_run: true });
    // A job without a dry run gets no dry_run field from a real-run default.
    expect(plan({ job: 'cache.promote', payload: { limit: 5 }, dryRun: false }).payload).toEqual({
      limit: 5,
    });
  });

  it('refuses a payload that is no object, and a dry_run that is no boolean', () => {
    expect(refusal({ job: 'archive.lock', payload: [1] })).toBeInstanceOf(ValidationError);
    const err = refusal({ job: 'retention.cleanup', payload: { dry_run: 'yes' } });
    expect((err as ValidationError).issues[0]?.path).toBe('dry_run');
  });
});
