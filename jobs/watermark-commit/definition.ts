import { watermarkCommitSchema } from '../../src/domain/watermark.js';
import { defineJob } from '../job-definition.js';

/**
 * Records a collection run for a source (seed 001). As the parent of an ingest flow it runs
 * only after every insert child succeeded, so the watermark never passes unwritten data.
 */
export const watermarkCommitJob = defineJob({
  name: 'watermark.commit',
  queue: 'ingest',
  scope: 'ingest',
  // One compare-and-set: a minute is already wrong.
  timeout: { ms: 5 * 60_000, retryable: true },
  description:
    'Records a collection run for a source: the success timestamp only moves forward, every run is kept in the history.',
  payload: watermarkCommitSchema,
  // The same run reported twice is one job.
  idempotencyKey: (p) => `${p.source_id}:${p.timestamp.toISOString()}:${p.status}`,
  tags: (p) => [`source:${p.source_id}`],
  fixture: {
    source_id: 'alienvault_otx',
    timestamp: '2024-01-01T12:30:00Z',
    status: 'success',
    records_collected: 150,
    error_message: null,
  },
  summary: 'watermark commits',
});
