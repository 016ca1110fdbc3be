// Seed 002 (LLaMA Mapper's Storage Manager): its README's calls, one to one, on Stowage's
// SDK. Each `# seed:` comment is the Python call the lines below it replace. A store is a
// background job here (the record is archived under Object Lock, indexed, then written to the
// hot store): where the seed awaited the write, this waits for the job.
import { StowageClient } from 'stowage/sdk';

// # seed: settings = Settings(); storage_manager = StorageManager(settings.storage)
// #       await storage_manager.initialize()
const storageManager = new StowageClient({
  baseUrl: process.env.STOWAGE_URL ?? 'http://localhost:8080',
  apiKey: process.env.STOWAGE_API_KEY ?? '',
});
// # seed: print("Storage healthy")  (initialize() succeeded)
console.log(`Storage ${(await storageManager.health()).status}`);

// # seed: record = StorageRecord(id="unique-id", source_data="detector output",
// #       mapped_data="canonical taxonomy mapping", model_version="llama-2-7b-v1.0",
// #       timestamp=datetime.utcnow(), metadata={"detector": "example"})
const record = {
  id: 'unique-id',
  source_data: 'detector output',
  mapped_data: 'canonical taxonomy mapping',
  model_version: 'llama-2-7b-v1.0',
  timestamp: new Date(),
  metadata: { detector: 'example' },
};

// # seed: record_id = await storage_manager.store_record(record)
const stored = await storageManager.storeRecord(record);
for (const job of stored.jobs) {
  await storageManager.waitForJob(job.id, { timeoutMs: 60_000, pollMs: 100 });
}
const recordId = stored.id;
console.log(`store_record: ${recordId}`);

// # seed: retrieved = await storage_manager.retrieve_record(record_id)
const retrieved = await storageManager.getRecord(recordId);
console.log(
  `retrieve_record: ${retrieved?.record.id} (${retrieved?.record.mapped_data}) from ${retrieved?.tier}`,
);

// # seed: cleaned_count = await storage_manager.cleanup_expired_records()
// #       print(f"Cleaned up {cleaned_count} records")
const cleanup = await storageManager.runMaintenance('retention.cleanup', {
  dry_run: false,
  targets: ['records'],
});
const cleaned = await storageManager.waitForJob(cleanup.id, { timeoutMs: 60_000, pollMs: 100 });
const report = cleaned.return_value as { targets: { records?: { rows: number } } };
console.log(`Cleaned up ${report.targets.records?.rows} records`);

// # seed: await storage_manager.close()
// Nothing to close: the client holds no connection between calls.
