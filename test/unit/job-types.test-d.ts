import { describe, expectTypeOf, it } from 'vitest';
import { iocsInsertJob } from '../../jobs/iocs-insert/definition.js';
import type { createIocsInsertHandler } from '../../jobs/iocs-insert/handler.js';
import { jobType } from '../../jobs/job-type.js';
import type { JOB_DEFINITIONS } from '../../jobs/registry.js';
import { watermarkCommitJob } from '../../jobs/watermark-commit/definition.js';
import type { createWatermarkCommitHandler } from '../../jobs/watermark-commit/handler.js';

declare const iocsInsertHandler: ReturnType<typeof createIocsInsertHandler>;
declare const watermarkCommitHandler: ReturnType<typeof createWatermarkCommitHandler>;

describe('the typed handler table', () => {
  it('pairs a definition with a handler of its own payload only', () => {
    jobType(iocsInsertJob, () => Promise.resolve(iocsInsertHandler));
    // @ts-expect-error a watermark.commit handler cannot serve iocs.insert
    jobType(iocsInsertJob, () => Promise.resolve(watermarkCommitHandler));
    jobType(watermarkCommitJob, () => Promise.resolve(watermarkCommitHandler));
  });

  it('keeps each definition literal in JOB_DEFINITIONS', () => {
    expectTypeOf<(typeof JOB_DEFINITIONS)[0]>().toEqualTypeOf<typeof iocsInsertJob>();
    expectTypeOf<(typeof JOB_DEFINITIONS)[number]['name']>().toEqualTypeOf<
      | 'iocs.insert'
      | 'watermark.commit'
      | 'cache.promote'
      | 'artifact.upload'
      | 'archive.lock'
      | 'archive.reindex'
      | 'retention.cleanup'
      | 'uploads.abort-stale'
      | 'batches.sweep'
      | 'detections.insert'
      | 'activities.insert'
      | 'activities.archive'
      | 'records.insert'
      | 'detections.archive'
      | 'deadletters.sweep'
    >();
  });
});
