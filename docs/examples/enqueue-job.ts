import { StowageApiError, StowageClient } from 'stowage/sdk';

const stowage = new StowageClient({
  baseUrl: process.env.STOWAGE_URL ?? 'http://localhost:8080',
  apiKey: process.env.STOWAGE_API_KEY ?? '',
  retry: { retries: 5, maxDelayMs: 10_000 },
});

// Typed by job name: a payload of the wrong shape does not compile. The same
// Idempotency-Key and payload give the same job, on the client's retries too.
const job = await stowage.enqueue(
  'retention.cleanup',
  { dry_run: true, targets: ['hot', 'samples'] },
  { idempotencyKey: `cleanup-dry-run-${new Date().toISOString().slice(0, 10)}` },
);
const done = await stowage.waitForJob(job.id, { timeoutMs: 60_000 });
console.log('dry run:', JSON.stringify(done.return_value));

// Bad input is a StowageApiError naming each failing field, and is never retried.
try {
  await stowage.enqueue('cache.promote', { min_confidence: 2 });
} catch (err) {
  if (!(err instanceof StowageApiError)) throw err;
  console.log(
    err.status,
    err.code,
    err.errors.map((e) => `${e.path}: ${e.message}`),
  );
}
