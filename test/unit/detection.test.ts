import { describe, expect, it } from 'vitest';
import {
  canonicalDetections,
  canTransition,
  DETECTION_STATUSES,
  DETECTION_TRANSITIONS,
  detectionSchema,
  mergeDetection,
} from '../../src/domain/detection.js';
import {
  decodeDetectionCursor,
  encodeDetectionCursor,
} from '../../queues/use-cases/search-detections.js';

const raw = {
  detection_id: 'det_123',
  timestamp: '2026-01-02T00:00:00Z',
  ioc_value: 'Evil.COM',
  ioc_type: 'domain',
  activity_event_id: 'evt_123',
  activity_source: 'dns',
  severity: 'HIGH',
  confidence: 0.95,
  first_seen: '2026-01-01T00:00:00Z',
  last_seen: '2026-01-02T00:00:00Z',
};

describe('detection schema', () => {
  it("takes seed 000's detection, normalizes the indicator and starts it as New", () => {
    const d = detectionSchema.parse(raw);
    expect(d).toMatchObject({ ioc_value: 'evil.com', status: 'New' });
    expect(d.case_id).toBeUndefined();
  });

  it('names each failing field', () => {
    const result = detectionSchema.safeParse({
      ...raw,
      severity: 'high',
      activity_source: 'DNS',
      status: 'Open',
      detection_id: 'stats',
      extra: 1,
    });
    expect(result.success).toBe(false);
    const paths = result.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(
      expect.arrayContaining(['severity', 'activity_source', 'status', 'detection_id']),
    );
    expect(
      detectionSchema.safeParse({ ...raw, last_seen: '2025-12-31T00:00:00Z' }).error?.issues[0]
        ?.path,
    ).toEqual(['last_seen']);
  });
});

describe('detection workflow', () => {
  it('never returns to New and reopens closed states to Investigating only', () => {
    for (const from of DETECTION_STATUSES) expect(canTransition(from, 'New')).toBe(false);
    for (const from of ['Resolved', 'False Positive', 'Closed'] as const) {
      expect(DETECTION_TRANSITIONS[from].filter((to) => to !== 'Closed')).toEqual([
        'Investigating',
      ]);
    }
    expect(canTransition('New', 'Investigating')).toBe(true);
    expect(canTransition('Confirmed', 'False Positive')).toBe(false);
  });
});

describe('detection merge', () => {
  it('is commutative on the merged fields and keeps the first status', () => {
    const a = detectionSchema.parse(raw);
    const b = detectionSchema.parse({
      ...raw,
      timestamp: '2026-01-01T12:00:00Z',
      severity: 'CRITICAL',
      confidence: 0.5,
      last_seen: '2026-01-03T00:00:00Z',
      status: 'Resolved',
    });
    const ab = mergeDetection(a, b);
    const ba = mergeDetection(b, a);
    for (const key of ['timestamp', 'first_seen', 'last_seen', 'confidence', 'severity'] as const)
      expect(ab[key]).toEqual(ba[key]);
    expect(ab).toMatchObject({ severity: 'CRITICAL', confidence: 0.95, status: 'New' });
    expect(
      canonicalDetections([b, a, { ...a, detection_id: 'det_0' }]).map((d) => d.detection_id),
    ).toEqual(['det_0', 'det_123']);
  });

  it('round-trips a cursor and refuses one it did not give out', () => {
    const at = { timestamp: new Date('2026-01-02T03:04:05.678Z'), detection_id: 'det_1' };
    expect(decodeDetectionCursor(encodeDetectionCursor(at))).toEqual(at);
    expect(() => decodeDetectionCursor('garbage')).toThrow(/cursor/);
  });
});
