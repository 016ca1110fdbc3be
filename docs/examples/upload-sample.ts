import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { JobFailedError, StowageClient } from 'stowage/sdk';

const stowage = new StowageClient({
  baseUrl: process.env.STOWAGE_URL ?? 'http://localhost:8080',
  apiKey: process.env.STOWAGE_API_KEY ?? '',
});
const path = process.argv[2] ?? 'auth.log';

// Sent as it is read: the file is never held in memory. Handing a function that opens
// the stream (rather than the stream) lets the client send it again after a 503.
const upload = await stowage.uploadArtifact(
  { kind: 'sample', request_id: randomUUID(), filename: basename(path) },
  () => createReadStream(path),
  { contentType: 'text/plain', metadata: { collector: 'splunk-ta' } },
);
console.log(`received ${upload.size} bytes, sha256 ${upload.sha256}`);

try {
  await stowage.waitForJob(upload.id, { timeoutMs: 120_000, pollMs: 1_000 });
  console.log(`stored as ${upload.bucket}/${upload.key}`);
} catch (err) {
  if (err instanceof JobFailedError) console.error(`upload failed: ${err.reason}`);
  throw err;
}
