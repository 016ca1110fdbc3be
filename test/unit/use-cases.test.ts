import { describe, expect, it } from 'vitest';
import { artifactKey, targetOfKey, type ArtifactTarget } from '../../src/domain/artifact.js';
import { ValidationError } from '../../src/errors/index.js';
import { ingestKey, parseIngest } from '../../queues/use-cases/ingest-iocs.js';

const ioc = (i: number, extra: Record<string, unknown> = {}) => ({
  type: 'domain',
  value: `h${i}.example.com`,
  confidence: 0.5,
  first_seen: '2026-01-01T00:00:00Z',
  last_seen: '2026-01-01T01:00:00Z',
  ...extra,
});

const issuesOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return err.issues.map((i) => i.path);
    throw err;
  }
  throw new Error('expected a ValidationError');
};

describe('parseIngest', () => {
  const limits = { maxIocs: 10, chunkSize: 3 };

  it('splits a batch into chunks of chunkSize and fills each record source from source_id', () => {
    const batch = parseIngest(
      { source_id: 'otx', iocs: [0, 1, 2, 3, 4, 5, 6].map((i) => ioc(i)) },
      limits,
    );
    expect(batch.chunks.map((c) => c.length)).toEqual([3, 3, 1]);
    expect(batch.iocs.every((i) => i.source === 'otx')).toBe(true);
  });

  it('one bad record rejects the batch, naming its index and field', () => {
    expect(
      issuesOf(() =>
        parseIngest({ source_id: 'otx', iocs: [ioc(0), ioc(1, { confidence: 3 })] }, limits),
      ),
    ).toEqual(['iocs.1.confidence']);
    expect(issuesOf(() => parseIngest({ iocs: [ioc(0)] }, limits))).toEqual(['source_id']);
    expect(
      issuesOf(() =>
        parseIngest({ iocs: [ioc(0)], watermark: { timestamp: '2026-01-01T00:00:00Z' } }, limits, {
          sourceOptional: true,
        }),
      ),
    ).toEqual(['source_id']);
  });

  it('the key of a batch is the one given, else the same digest for the same batch', () => {
    const a = parseIngest({ source_id: 'otx', iocs: [ioc(0)] }, limits);
    const b = parseIngest({ source_id: 'otx', iocs: [ioc(0)] }, limits);
    const c = parseIngest({ source_id: 'otx', iocs: [ioc(1)] }, limits);
    expect(ingestKey(a, undefined)).toBe(ingestKey(b, undefined));
    expect(ingestKey(a, undefined)).not.toBe(ingestKey(c, undefined));
    expect(ingestKey(a, 'k-1')).toBe('k-1');
  });
});

describe('targetOfKey, the inverse of artifactKey', () => {
  const targets: ArtifactTarget[] = [
    { kind: 'sample', request_id: 'r1', filename: 'a.bin' },
    { kind: 'ta-bundle', request_id: 'r1', revision_id: 'rev', version: 3 },
    { kind: 'debug-bundle', validation_run_id: 'v1', filename: 'log.txt' },
  ];

  it.each(targets)('round-trips a $kind key', (target) => {
    expect(targetOfKey(target.kind, artifactKey(target))).toEqual(target);
  });

  it.each([
    ['sample', 'samples/r1/../x'],
    ['sample', 'samples/r1/a/b'],
    ['sample', 'tas/r1/v1/rev.tgz'],
    ['ta-bundle', 'tas/r1/v01/rev.tgz'],
    ['debug-bundle', 'debug/v1/'],
  ] as const)('refuses %s key %j', (kind, key) => {
    expect(targetOfKey(kind, key)).toBeUndefined();
  });
});
