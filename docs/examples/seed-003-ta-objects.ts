// Seed 003 (the Splunk TA generator's object storage): its README's calls, one to one, on
// Stowage's SDK. Each `# seed:` comment is the Python call the lines below it replace; the
// buckets come from `stowage init` (seed: client.initialize_buckets()).
import { randomUUID } from 'node:crypto';
import { StowageApiError, StowageClient } from 'stowage/sdk';

const client = new StowageClient({
  baseUrl: process.env.STOWAGE_URL ?? 'http://localhost:8080',
  apiKey: process.env.STOWAGE_API_KEY ?? '',
});
const requestUuid = randomUUID();
const sample = new TextEncoder().encode('2026-01-01T00:00:00Z host=a msg="login failed"\n');

// # seed: storage_key = client.upload_log_sample(request_id=request_uuid, file_stream=f,
// #       filename="sample.log", metadata={"user_id": str(user_uuid)})
let storageKey: string;
try {
  const upload = await client.uploadArtifact(
    { kind: 'sample', request_id: requestUuid, filename: 'sample.log' },
    sample,
    // Metadata keys travel as HTTP headers: `user-id` for the seed's `user_id`.
    { contentType: 'text/plain', metadata: { 'user-id': randomUUID() } },
  );
  await client.waitForJob(upload.id, { timeoutMs: 60_000, pollMs: 100 });
  storageKey = upload.key;
} catch (err) {
  // # seed: except StorageQuotaExceededError as e: print(e.status_code)  # 413
  if (err instanceof StowageApiError && err.status === 413) {
    console.log(`File too large: ${err.message} (HTTP ${err.status})`);
  }
  throw err;
}
console.log(`storage_key ${storageKey}`);

// # seed: download_url = client.get_log_sample_presigned_url(storage_key=storage_key,
// #       expiration=3600)
const presigned = await client.presignArtifact('sample', storageKey, { expiresIn: 3600 });
console.log(`presigned for ${presigned.expires_in} s`);

// # seed: content = client.download_log_sample(storage_key)
const download = await client.downloadArtifact('sample', storageKey);
const content = new Uint8Array(await new Response(download.body).arrayBuffer());
console.log(`downloaded ${content.length} bytes, sha256 ${download.sha256}`);

// # seed: samples = client.list_log_samples(request_id=request_uuid)
const samples = await client.listArtifacts('sample', requestUuid);
console.log(`samples: ${samples.artifacts.map((a) => a.key).join(', ')}`);

// # seed: storage_key = client.upload_ta_bundle(request_id=request_id,
// #       revision_id=revision_id, file_stream=bundle_data, version=1,
// #       metadata={"generated_by": "AI"})
const revisionId = randomUUID();
const bundle = await client.uploadArtifact(
  { kind: 'ta-bundle', request_id: requestUuid, revision_id: revisionId, version: 1 },
  new TextEncoder().encode('a TA bundle'),
  { contentType: 'application/gzip', metadata: { 'generated-by': 'AI' } },
);
await client.waitForJob(bundle.id, { timeoutMs: 60_000, pollMs: 100 });
console.log(`ta bundle ${bundle.key}`);

// # seed: stats = client.get_storage_stats()
// #       for bucket_type, data in stats.items(): data['total_objects'], data['total_size_formatted']
const stats = await client.artifactStats();
for (const [kind, data] of Object.entries(stats)) {
  console.log(`${kind}: objects ${data.objects}, bytes ${data.bytes}`);
}
