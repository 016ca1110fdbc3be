import { describe, expectTypeOf, it } from 'vitest';
import type { IngestFlowAccepted, IngestJobsAccepted, JobName } from '../../src/sdk/index.js';
import type { StowageClient } from '../../src/sdk/index.js';

declare const client: StowageClient;

const ioc = {
  type: 'domain',
  value: 'evil.example.com',
  confidence: 0.9,
  first_seen: '2026-01-01T00:00:00Z',
  last_seen: new Date(),
} as const;

describe('StowageClient types', () => {
  it('knows every job type by name', () => {
    expectTypeOf<JobName>().toEqualTypeOf<
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

  it('takes the payload of the named type, as the api validates it', () => {
    type InsertPayload = Parameters<typeof client.enqueue<'iocs.insert'>>[1];
    expectTypeOf<InsertPayload['iocs'][number]['confidence']>().toEqualTypeOf<number>();
    type CleanupPayload = Parameters<typeof client.enqueue<'retention.cleanup'>>[1];
    expectTypeOf<CleanupPayload>().toHaveProperty('dry_run');
    void client.enqueue('iocs.insert', { iocs: [{ ...ioc, source: 'otx' }] });
    void client.enqueueBulk('cache.promote', [{ min_confidence: 0.8 }, {}]);
  });

  it('refuses a wrong payload or an unknown type at compile time', () => {
    // @ts-expect-error confidence must be a number
    void client.enqueue('iocs.insert', { iocs: [{ ...ioc, source: 'otx', confidence: 'high' }] });
    // @ts-expect-error retention.cleanup targets are hot or samples
    void client.enqueue('retention.cleanup', { targets: ['everything'] });
    // @ts-expect-error watermark.commit needs a status
    void client.enqueue('watermark.commit', { source_id: 'otx', timestamp: new Date() });
    // @ts-expect-error no such job type
    void client.enqueue('iocs.delete', {});
    // @ts-expect-error every bulk payload is checked
    void client.enqueueBulk('cache.promote', [{ min_confidence: '0.8' }]);
  });

  it('types ingest, uploads and watermarks from the domain schemas', () => {
    // @ts-expect-error not an IOC type
    void client.ingestIocs({ source_id: 'otx', iocs: [{ ...ioc, type: 'hostname' }] });
    // @ts-expect-error a sample needs a filename
    void client.uploadArtifact({ kind: 'sample', request_id: 'r' }, Buffer.from(''));
    void client.uploadArtifact(
      // @ts-expect-error a TA bundle's version is a number
      { kind: 'ta-bundle', request_id: 'r', revision_id: 'v', version: 'latest' },
      Buffer.from(''),
    );
    // @ts-expect-error a run is a success or a failure
    void client.setWatermark('otx', { timestamp: new Date(), status: 'ok' });
    // @ts-expect-error not an IOC type
    void client.lookupIoc('hostname', 'x');
  });

  it('answers a batch with a watermark with its flow, one without with its jobs', () => {
    const flow = client.ingestIocs({
      source_id: 'otx',
      iocs: [ioc],
      watermark: { timestamp: new Date() },
    });
    expectTypeOf(flow).resolves.toEqualTypeOf<IngestFlowAccepted>();
    expectTypeOf(
      client.ingestIocs({ source_id: 'otx', iocs: [ioc] }),
    ).resolves.toEqualTypeOf<IngestJobsAccepted>();
  });
});
