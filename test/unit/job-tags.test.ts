import { describe, expect, it } from 'vitest';
import { artifactUploadJob } from '../../jobs/artifact-upload/definition.js';
import { iocsInsertJob } from '../../jobs/iocs-insert/definition.js';
import { MAX_IOC_TAGS, ingestTags, iocTags } from '../../jobs/job-meta.js';
import { watermarkCommitJob } from '../../jobs/watermark-commit/definition.js';
import { dashboardLink } from '../../queues/dashboard-link.js';

describe('job tags', () => {
  it('a small batch is tagged by each distinct IOC; a bigger one by none', () => {
    expect(iocTags(['a.example', 'b.example', 'a.example'])).toEqual([
      'ioc:a.example',
      'ioc:b.example',
    ]);
    const many = Array.from({ length: MAX_IOC_TAGS + 1 }, (_, i) => `h${i}.example`);
    expect(iocTags(many)).toEqual([]);
    expect(iocTags(many.slice(0, MAX_IOC_TAGS))).toHaveLength(MAX_IOC_TAGS);
  });

  it('iocs.insert tags its values from the parsed payload', () => {
    const payload = iocsInsertJob.payload.parse(iocsInsertJob.fixture);
    expect(iocsInsertJob.tags?.(payload)).toEqual([`ioc:${payload.iocs[0]!.value}`]);
  });

  it('an artifact upload is tagged by its key and request; a watermark commit by its source', () => {
    const upload = artifactUploadJob.payload.parse(artifactUploadJob.fixture);
    expect(artifactUploadJob.tags?.(upload)).toEqual([
      'artifact:samples/3f1c2a9e-1111-4222-8333-444455556666/sample.log',
      'request:3f1c2a9e-1111-4222-8333-444455556666',
    ]);
    const commit = watermarkCommitJob.payload.parse(watermarkCommitJob.fixture);
    expect(watermarkCommitJob.tags?.(commit)).toEqual(['source:alienvault_otx']);
  });

  it('an ingest request tags its source and, with an Idempotency-Key, its request', () => {
    expect(ingestTags('otx', 'req-1')).toEqual(['source:otx', 'request:req-1']);
    expect(ingestTags(undefined, undefined)).toEqual([]);
  });

  it('a dashboard link is absolute with a public URL, else a path, and escapes its parts', () => {
    expect(dashboardLink({ path: '/admin/queues' })('ingest', 'a b')).toBe(
      '/admin/queues/queue/ingest/a%20b',
    );
    expect(
      dashboardLink({ path: '/admin/queues/', publicUrl: 'https://x.example/' })('cache', 'j.1'),
    ).toBe('https://x.example/admin/queues/queue/cache/j.1');
  });
});
