import { StowageClient } from 'stowage/sdk';

const stowage = new StowageClient({
  baseUrl: process.env.STOWAGE_URL ?? 'http://localhost:8080',
  apiKey: process.env.STOWAGE_API_KEY ?? '',
});

// No watermark before the first run (the api's 404): look back a default 7 days.
const watermark = await stowage.getWatermark('alienvault_otx');
const since =
  watermark?.last_successful_timestamp ?? new Date(Date.now() - 7 * 86_400_000).toISOString();
console.log(`collecting since ${since}`);

const collectedUpTo = new Date();
const batch = await stowage.ingestIocs({
  source_id: 'alienvault_otx',
  iocs: [
    {
      type: 'domain',
      value: 'Evil.example.COM',
      threat_type: 'c2',
      confidence: 0.95,
      first_seen: since,
      last_seen: collectedUpTo,
      tags: ['apt'],
    },
  ],
  // The watermark moves only once every IOC of the batch is stored.
  watermark: { timestamp: collectedUpTo },
});

// The batch is one flow: its inserts, then the watermark commit.
await stowage.waitForJob(batch.id, { timeoutMs: 60_000 });

const found = await stowage.lookupIoc('domain', 'evil.example.com');
console.log(`evil.example.com: confidence ${found?.ioc.confidence}, cached ${found?.cached}`);
const after = await stowage.getWatermark('alienvault_otx');
console.log(`watermark now ${after?.last_successful_timestamp}`);
