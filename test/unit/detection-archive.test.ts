import { describe, expect, it } from 'vitest';
import { needsDetectionArchive } from '../../jobs/detections-archive/handler.js';
import {
  detectionArchiveManifestKey,
  detectionArchivePartKey,
} from '../../src/domain/detection-archive.js';

describe('detection archive layout', () => {
  it('keys are deterministic per day and generation, under their own prefix', () => {
    expect(detectionArchivePartKey('2026-01-01', 2, 3)).toBe(
      'archive/detections/v1/day=2026-01-01/generation=2/part-00003.ndjson.gz',
    );
    expect(detectionArchiveManifestKey('2026-01-01', 1)).toBe(
      'archive/detections/v1/day=2026-01-01/generation=1/manifest.json',
    );
    expect(() => detectionArchivePartKey('2026-01-01', 0, 1)).toThrow(RangeError);
    expect(() => detectionArchivePartKey('2026-01-01', 1, 0)).toThrow(RangeError);
  });
});

describe('needsDetectionArchive', () => {
  const mark = '2026-01-02T10:00:00.123456Z';
  it('archives a day never archived, and one updated after its newest generation', () => {
    expect(needsDetectionArchive(mark, undefined)).toBe(true);
    expect(needsDetectionArchive('2026-01-02T10:00:00.123457Z', { high_water: mark })).toBe(true);
  });
  it('skips an empty day and one its newest generation holds (to the microsecond)', () => {
    expect(needsDetectionArchive(null, undefined)).toBe(false);
    expect(needsDetectionArchive(mark, { high_water: mark })).toBe(false);
    expect(needsDetectionArchive('2026-01-02T09:59:59.999999Z', { high_water: mark })).toBe(false);
  });
});
