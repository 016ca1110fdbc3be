// The chaos run's workload, generated from a seed, and the state a clean run leaves: what
// the sinks must hold once every acknowledged job has run exactly once.
import { iocKey, iocSchema, mergeIoc, toStored, type StoredIoc } from '../../src/domain/ioc.js';
import { pick, seededRandom, subset } from '../helpers/hot-store.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** One collector request: POST /v1/ingest/iocs with a watermark. */
export interface IngestRequest {
  /** Stable across retries: the request's Idempotency-Key. */
  key: string;
  source_id: string;
  iocs: Record<string, unknown>[];
  watermark: { timestamp: string; records_collected: number };
}

/** One artifact: POST /v1/artifacts/sample, raw body. */
export interface ArtifactUpload {
  key: string;
  request_id: string;
  filename: string;
  bytes: number;
  /** Large ones are uploaded during the rolling restart. */
  large: boolean;
}

/** How big a run is. */
export interface WorkloadSize {
  /** Requests of recent sightings, spread over the run. */
  recentRequests: number;
  /** Requests of sightings on old days (archived, then cleaned), sent first. */
  oldRequests: number;
  iocsPerRequest: number;
  sources: number;
  /** Distinct recent and old indicators: small, so requests overlap and merge. */
  recentKeys: number;
  oldKeys: number;
  smallArtifacts: number;
  largeArtifacts: number;
  largeArtifactBytes: number;
}

/** A run's requests and the days the old sightings fall on. */
export interface Workload {
  recent: IngestRequest[];
  old: IngestRequest[];
  artifacts: ArtifactUpload[];
  oldDays: string[];
}

const THREATS = ['c2', 'malware', 'phishing', 'unknown'];
const CONFIDENCES = [0.25, 0.5, 0.75, 0.875, 1];
const TAGS = ['apt', 'botnet', 'ransomware', 'tor'];

/**
 * Builds the workload of a run starting at `now`. Recent sightings fall between the start
 * of today (UTC) and now, so no archive run touches them; old ones on three UTC days 40–42
 * days back, past any hot window the run configures.
 */
export function buildWorkload(
  size: WorkloadSize,
  seed: number,
  runId: string,
  now: Date,
): Workload {
  const random = seededRandom(seed);
  const todayStart = Math.floor(now.getTime() / DAY) * DAY;
  const oldDayStarts = [42, 41, 40].map((d) => todayStart - d * DAY);

  const sighting = (value: string, lastSeen: number, ip: boolean) => ({
    type: ip ? 'ipv4' : 'domain',
    value,
    threat_type: pick(random, THREATS),
    confidence: pick(random, CONFIDENCES),
    first_seen: new Date(lastSeen - Math.floor(random() * 6 * HOUR)).toISOString(),
    last_seen: new Date(lastSeen).toISOString(),
    tags: subset(random, TAGS).sort(),
  });
  const indicator = (n: number, prefix: string) =>
    n % 3 === 0
      ? { value: `10.${prefix === 'r' ? 1 : 2}.${n >> 8}.${n & 255}`, ip: true }
      : { value: `${prefix}${n}.${runId}.chaos.example`, ip: false };

  const requests = (count: number, kind: 'recent' | 'old'): IngestRequest[] => {
    const out: IngestRequest[] = [];
    for (let i = 0; i < count; i++) {
      const source_id = kind === 'old' ? 'chaos-old' : `chaos-s${i % size.sources}`;
      const iocs = Array.from({ length: size.iocsPerRequest }, () => {
        if (kind === 'old') {
          const { value, ip } = indicator(Math.floor(random() * size.oldKeys), 'o');
          const day = pick(random, oldDayStarts);
          return sighting(value, day + Math.floor(random() * (DAY - 6 * HOUR)) + 6 * HOUR, ip);
        }
        const { value, ip } = indicator(Math.floor(random() * size.recentKeys), 'r');
        const lastSeen = Math.max(todayStart, now.getTime() - Math.floor(random() * 6 * HOUR));
        return sighting(value, lastSeen, ip);
      });
      out.push({
        key: `${runId}-${kind}-${i}`,
        source_id,
        iocs,
        // Per source, later requests carry later watermarks; they are sent out of order.
        watermark: {
          timestamp: new Date(now.getTime() - (count - i) * 1000).toISOString(),
          records_collected: iocs.length,
        },
      });
    }
    return out;
  };

  const artifacts: ArtifactUpload[] = [];
  for (let i = 0; i < size.smallArtifacts + size.largeArtifacts; i++) {
    const large = i >= size.smallArtifacts;
    artifacts.push({
      key: `${runId}-artifact-${i}`,
      request_id: `${runId}-req-${i % 7}`,
      filename: `artifact-${i}.bin`,
      bytes: large ? size.largeArtifactBytes : 1024 + Math.floor(random() * 3 * 1024 * 1024),
      large,
    });
  }

  return {
    recent: requests(size.recentRequests, 'recent'),
    old: requests(size.oldRequests, 'old'),
    artifacts,
    oldDays: oldDayStarts.map((d) => new Date(d).toISOString().slice(0, 10)),
  };
}

/** Every indicator of some requests, merged as a clean run stores them, sorted by key. */
export function expectedRows(requests: readonly IngestRequest[]): StoredIoc[] {
  const byKey = new Map<string, StoredIoc>();
  for (const request of requests) {
    for (const raw of request.iocs) {
      const stored = toStored(iocSchema.parse({ ...raw, source: request.source_id }));
      const key = iocKey(stored);
      const existing = byKey.get(key);
      byKey.set(key, existing ? mergeIoc(existing, stored) : stored);
    }
  }
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
}

/** The highest watermark per source among some requests. */
export function expectedWatermarks(requests: readonly IngestRequest[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of requests) {
    const current = out.get(r.source_id);
    if (current === undefined || r.watermark.timestamp > current) {
      out.set(r.source_id, r.watermark.timestamp);
    }
  }
  return out;
}
