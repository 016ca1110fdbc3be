// Seed 000 (LADON storage service): its README's calls, one to one, on Stowage's SDK. Each
// `# seed:` comment is the Python call the lines below it replace. Writes are background jobs
// here: where the seed awaited a stored row, this waits for the job.
import { StowageClient } from 'stowage/sdk';

const storage = new StowageClient({
  baseUrl: process.env.STOWAGE_URL ?? 'http://localhost:8080',
  apiKey: process.env.STOWAGE_API_KEY ?? '',
});
const now = new Date();
const hoursAgo = (h: number) => new Date(now.getTime() - h * 3_600_000);
const waitAll = (jobs: { id: string }[]) =>
  Promise.all(jobs.map((job) => storage.waitForJob(job.id, { timeoutMs: 60_000, pollMs: 100 })));
const ioc = (value: string, confidence: number) => ({
  type: 'domain' as const,
  value,
  threat_type: 'c2',
  confidence,
  first_seen: hoursAgo(2),
  last_seen: now,
});

// # seed: await storage.store_ioc(ioc, cache=True)
const one = await storage.ingestIocs({ source_id: 'ladon', iocs: [ioc('evil.com', 0.95)] });
await waitAll(one.jobs);

// # seed: result = await storage.store_iocs_batch([ioc1, ioc2, ioc3])
const iocs = [ioc('bad1.example', 0.9), ioc('bad2.example', 0.85), ioc('meh.example', 0.5)];
const batch = await storage.ingestIocs({ source_id: 'ladon', iocs });
await waitAll(batch.jobs);
console.log(`Stored ${batch.iocs}/${iocs.length} IOCs`);

// # seed: ioc = await storage.get_ioc("evil.com", "domain", use_cache=True)
const found = await storage.lookupIoc('domain', 'evil.com');
console.log(`get_ioc: ${found?.ioc.value} confidence ${found?.ioc.confidence}`);
// use_cache=False reads the hot store itself
const uncached = await storage.lookupIoc('domain', 'evil.com', { useCache: false });
console.log(`get_ioc(use_cache=False): cached ${uncached?.cached}, tier ${uncached?.tier}`);

// # seed: iocs = await storage.search_iocs(threat_type="c2", min_confidence=0.8, limit=100)
const c2 = await storage.searchIocs({ threat_type: 'c2', min_confidence: 0.8, limit: 100 });
console.log(`search_iocs: ${c2.items.map((i) => i.value).join(', ')}`);

// # seed: await storage.invalidate_ioc_cache("evil.com", "domain")
const dropped = await storage.uncacheIoc('domain', 'evil.com');
console.log(`invalidate_ioc_cache: ${dropped.invalidated}`);

// # seed: activity = NormalizedActivity(event_id="evt_123", timestamp=…, source=DNS,
// #       event_type=DNS_QUERY, domain="evil.com"); await storage.store_activity(activity)
const activity = {
  event_id: 'evt_123',
  timestamp: now,
  source: 'dns' as const,
  event_type: 'dns_query' as const,
  domain: 'evil.com',
};
await waitAll((await storage.ingestActivities({ activities: [activity] })).jobs);

// # seed: result = await storage.store_activities_batch([activity1, activity2, activity3])
const activities = ['evt_124', 'evt_125', 'evt_126'].map((event_id, i) => ({
  ...activity,
  event_id,
  timestamp: new Date(now.getTime() - (i + 1) * 60_000),
}));
await waitAll((await storage.ingestActivities({ activities })).jobs);

// # seed: activities = await storage.search_activities(source="dns",
// #       start_time=datetime.utcnow() - timedelta(hours=1), limit=1000)
const recent = await storage.searchActivities({
  source: 'dns',
  start_time: hoursAgo(1),
  limit: 1000,
});
console.log(`search_activities: ${recent.activities.length} events`);

// # seed: detection = Detection(detection_id="det_123", …, severity=Severity.HIGH,
// #       confidence=0.95); await storage.store_detection(detection)
const detection = {
  detection_id: 'det_123',
  timestamp: now,
  ioc_value: 'evil.com',
  ioc_type: 'domain' as const,
  activity_event_id: 'evt_123',
  activity_source: 'dns' as const,
  severity: 'HIGH' as const,
  confidence: 0.95,
  first_seen: now,
  last_seen: now,
};
const stored = await storage.ingestDetections({ detections: [detection] });
if ('jobs' in stored) await waitAll(stored.jobs);

// # seed: detections = await storage.search_detections(severity="HIGH", status="New", limit=50)
const open = await storage.searchDetections({ severity: 'HIGH', status: 'New', limit: 50 });
console.log(`search_detections: ${open.detections.map((d) => d.detection_id).join(', ')}`);

// # seed: await storage.update_detection_status(detection_id="det_123",
// #       status="Investigating", case_id="INC0012345")
const moved = await storage.updateDetectionStatus('det_123', {
  status: 'Investigating',
  case_id: 'INC0012345',
});
console.log(`update_detection_status: ${moved.detection.status} ${moved.detection.case_id}`);

// # seed: watermark = await storage.get_watermark("mde_logs")
const watermark = await storage.getWatermark('mde_logs');
console.log(`get_watermark: ${watermark?.last_successful_timestamp ?? 'none yet'}`);

// # seed: await storage.update_watermark(source_id="mde_logs", timestamp=…, status="success")
await storage.setWatermark('mde_logs', { timestamp: now, status: 'success' });
// # seed: await storage.update_watermark(…, status="failed", error_message="Connection timeout")
const failed = await storage.setWatermark('mde_logs', {
  timestamp: new Date(now.getTime() + 1_000),
  status: 'failed',
  error_message: 'Connection timeout',
});
console.log(`update_watermark: ${failed.status}, still at ${failed.last_successful_timestamp}`);

// # seed: await storage.set_config("notification_rules", {...})
const rules = {
  critical: { slack: true, email: true },
  high: { slack: false, email: true },
  medium: { email: false },
};
const current = await storage.getConfig('notification_rules');
await storage.setConfig('notification_rules', rules, { version: current?.version ?? 0 });
// # seed: config = await storage.get_config("notification_rules")
const config = await storage.getConfig('notification_rules');
console.log(`get_config: ${JSON.stringify(config?.value)}`);

// # seed: stats = await storage.get_cache_stats()
const stats = await storage.cacheStats();
console.log(`Cache hit rate: ${stats.hit_rate}%`);
console.log(`Total IOCs cached: ${stats.ioc_keys}`);

// # seed: cached_count = await storage.warm_ioc_cache(min_confidence=0.7, hours=48)
const warm = await storage.runMaintenance('cache.promote', {
  min_confidence: 0.7,
  max_age_hours: 48,
});
const warmed = await storage.waitForJob(warm.id, { timeoutMs: 60_000, pollMs: 100 });
console.log(`Warmed cache: ${JSON.stringify(warmed.return_value)}`);
