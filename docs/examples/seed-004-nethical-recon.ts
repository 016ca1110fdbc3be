// Seed 004 (Nethical Recon's threat-marker store): its README's calls, one to one, on
// Stowage's SDK. A "stain" is an indicator here: its target (an IP, a file hash) is the IOC,
// its marker type the threat type, its tag id a tag, threat_score / 10 the confidence.
// Connecting, schemas and pools are Stowage's business (`stowage init`, DATABASE_POOL_MAX).
import { StowageClient } from 'stowage/sdk';

const store = new StowageClient({
  baseUrl: process.env.STOWAGE_URL ?? 'http://localhost:8080',
  apiKey: process.env.STOWAGE_API_KEY ?? '',
});

// # seed: stain = {'tag_id': 'MAL-abc123-2025-12-15', 'marker_type': 'MALWARE',
// #   'target': {'ip': '192.168.1.105'}, 'stain': {'threat_score': 9.2, 'confidence': 0.95},
// #   'timestamp_first_seen': '2025-12-15T14:30:00Z', 'detected_by': 'owl', …}
// # seed: store.save_stain(stain)
const saved = await store.ingestIocs({
  source_id: 'owl',
  iocs: [
    {
      type: 'ipv4',
      value: '192.168.1.105',
      threat_type: 'malware',
      confidence: 9.2 / 10,
      first_seen: '2025-12-15T14:30:00Z',
      last_seen: '2025-12-15T14:30:00Z',
      tags: ['mal-abc123-2025-12-15'],
    },
  ],
});
for (const job of saved.jobs) await store.waitForJob(job.id, { timeoutMs: 60_000, pollMs: 100 });

// # seed: retrieved = store.get_stain('MAL-abc123-2025-12-15')
const byTag = await store.searchIocs({ tag: 'mal-abc123-2025-12-15', limit: 1 });
const retrieved = byTag.items[0];
console.log(`get_stain: ${retrieved?.type} ${retrieved?.value} ${retrieved?.threat_type}`);

// # seed: stats = store.get_statistics(); stats['total_stains']
const stats = await store.iocStats();
console.log(`Total stains: ${stats.total}`);

// # seed: stains = store.get_all_stains(limit=10)
const page = await store.searchIocs({ limit: 10 });
console.log(`get_all_stains: ${page.items.length}`);

// # seed: high_threats = store.get_stains_by_threat_score(min_score=8.0)
const highThreats = await store.searchIocs({ min_confidence: 8.0 / 10, limit: 1000 });
console.log(`Found ${highThreats.items.length} high-threat stains`);

// # seed: by IP — the stains of a network
const inNetwork = await store.searchIocs({ cidr: '192.168.1.0/24' });
console.log(`in 192.168.1.0/24: ${inNetwork.items.map((i) => i.value).join(', ')}`);

// # seed: stats = pool.get_stats(); stats['in_use']
const pool = await store.poolStats();
console.log(`Connections in use: ${pool.postgres.in_use} of ${pool.postgres.max}`);

// # seed: store.delete_stain('MAL-abc123-2025-12-15')
const deleted = await store.deleteIoc('ipv4', '192.168.1.105');
console.log(`delete_stain: ${deleted !== undefined}`);
const after = await store.lookupIoc('ipv4', '192.168.1.105');
console.log(`after delete: ${after === undefined ? 'gone' : after.ioc.value}`);
